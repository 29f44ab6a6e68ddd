import type { JSONSchemaType } from 'ajv';
import type { OperationStatus } from '../../db/database';
import { idPattern } from '../../lib/ids';
import { OPERATION_TYPES, type OperationType } from '../../workflows/registry';
import {
  allRequired,
  nullableString,
  nullableTimestamp,
  pageProperties,
  timestamp,
  type PageQuery,
  type SchemaObject,
} from './common.schemas';

export const OPERATION_STATUSES: readonly OperationStatus[] = [
  'pending',
  'in_progress',
  'paused',
  'completed',
  'failed',
  'cancelled',
];

export interface OperationListQuery extends PageQuery {
  cluster_id?: string | null;
  node_id?: string | null;
  status?: OperationStatus | null;
  type?: OperationType | null;
  request_id?: string | null;
}

export const operationListQuerySchema: JSONSchemaType<OperationListQuery> = {
  type: 'object',
  properties: {
    ...pageProperties,
    cluster_id: { type: 'string', pattern: idPattern('cluster'), nullable: true },
    node_id: { type: 'string', pattern: idPattern('node'), nullable: true },
    status: { type: 'string', enum: [...OPERATION_STATUSES], nullable: true },
    type: { type: 'string', enum: [...OPERATION_TYPES], nullable: true },
    request_id: {
      type: 'string',
      pattern: '^[A-Za-z0-9._:-]{1,128}$',
      nullable: true,
      description: 'Only operations started by this request (its X-Request-ID, echoed on every answer).',
    },
  },
  required: [],
  additionalProperties: false,
};

const stepSchema: SchemaObject = {
  type: 'object',
  required: ['name', 'status', 'started_at', 'finished_at'],
  properties: {
    name: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'in_progress', 'completed', 'failed', 'skipped', 'cancelled'] },
    started_at: nullableTimestamp,
    finished_at: nullableTimestamp,
  },
};

export const operationViewSchema: SchemaObject = allRequired({
  type: 'object',
  properties: {
    id: { type: 'string', pattern: idPattern('operation') },
    type: { type: 'string', enum: [...OPERATION_TYPES] },
    status: { type: 'string', enum: [...OPERATION_STATUSES] },
    progress: { type: 'integer', minimum: 0, maximum: 100 },
    current_step: nullableString,
    steps: { type: 'array', items: stepSchema },
    logs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['timestamp', 'message'],
        properties: { timestamp, message: { type: 'string' } },
      },
    },
    created_at: timestamp,
    started_at: nullableTimestamp,
    completed_at: nullableTimestamp,
    estimated_completion: nullableTimestamp,
    error: {
      type: ['object', 'null'],
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
    result: { type: ['object', 'null'] },
    cluster_id: nullableString,
    node_id: nullableString,
    osd_id: { type: ['integer', 'null'] },
    params: { type: 'object', description: 'The non-secret parameters the operation was started with.' },
    request_id: { type: 'string', description: 'The request that started the operation.' },
    cancel_requested_at: {
      ...nullableTimestamp,
      description: 'When a cancel was delivered to the workflow; null if none was.',
    },
    temporal: {
      type: 'object',
      required: ['workflow_id', 'run_id', 'ui_url'],
      properties: {
        workflow_id: { type: 'string' },
        run_id: nullableString,
        ui_url: { type: 'string', format: 'uri' },
      },
    },
  },
});
