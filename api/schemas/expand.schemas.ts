import type { JSONSchemaType } from 'ajv';
import { idPattern } from '../../lib/ids';
import { dataResponseSchema, type SchemaObject } from './common.schemas';

export interface ExpandClusterBody {
  node_ids: string[];
  max_misplaced_ratio: number;
}

export const expandClusterBodySchema: JSONSchemaType<ExpandClusterBody> = {
  type: 'object',
  properties: {
    node_ids: {
      type: 'array',
      minItems: 1,
      maxItems: 32,
      uniqueItems: true,
      items: { type: 'string', pattern: idPattern('node') },
      description:
        'Ready nodes of this account and environment (in no cluster, not held, not in maintenance) to add as hosts; every healthy drive gets an OSD.',
    },
    max_misplaced_ratio: {
      type: 'number',
      minimum: 0.01,
      maximum: 0.5,
      default: 0.05,
      description:
        "The share of the cluster's objects one weight step may misplace (Ceph's target_max_misplaced_ratio, default 0.05): the new OSDs' CRUSH weights are raised from 0 in as many steps as that takes.",
    },
  },
  required: ['node_ids'],
  additionalProperties: false,
};

export const expandAcceptedResponseSchema: SchemaObject = dataResponseSchema({
  type: 'object',
  required: ['operation_id', 'cluster_id', 'node_ids', 'status'],
  properties: {
    operation_id: { type: 'string', pattern: idPattern('operation') },
    cluster_id: { type: 'string', pattern: idPattern('cluster') },
    node_ids: { type: 'array', items: { type: 'string', pattern: idPattern('node') } },
    status: { type: 'string', enum: ['pending'] },
  },
});
