import type { JSONSchemaType } from 'ajv';
import { idPattern } from '../../lib/ids';
import {
  allRequired,
  dataResponseSchema,
  pageProperties,
  timestamp,
  type PageQuery,
  type SchemaObject,
} from './common.schemas';

export interface ReweightOsdBody {
  weight: number;
}

export const reweightOsdBodySchema: JSONSchemaType<ReweightOsdBody> = {
  type: 'object',
  properties: {
    weight: {
      type: 'number',
      minimum: 0,
      maximum: 1,
      description:
        "New CRUSH weight as a fraction of the device's full weight (its size in TiB, the weight Ceph gave the OSD at creation): 1 = full, 0 = drain before removal.",
    },
  },
  required: ['weight'],
  additionalProperties: false,
};

export interface ReplaceOsdBody {
  device: string;
}

export const replaceOsdBodySchema: JSONSchemaType<ReplaceOsdBody> = {
  type: 'object',
  properties: {
    device: {
      type: 'string',
      pattern: '^(same_slot|(/dev/)?[A-Za-z0-9_-]{1,64})$',
      description:
        "The new disk on the OSD's host, by kernel name (`sdc` or `/dev/sdc`), or `same_slot`: the new disk sits where the failed one was and has its name.",
      examples: ['same_slot', '/dev/sdc'],
    },
  },
  required: ['device'],
  additionalProperties: false,
};

export type OsdListQuery = PageQuery;

export const osdListQuerySchema: JSONSchemaType<OsdListQuery> = {
  type: 'object',
  properties: pageProperties,
  required: [],
  additionalProperties: false,
};

/** An OSD as NodeFoundry last observed it (recorded at the end of every cluster operation). */
export const osdViewSchema: SchemaObject = allRequired({
  type: 'object',
  properties: {
    osd_id: { type: 'integer', minimum: 0 },
    node_id: { type: ['string', 'null'] },
    host: { type: 'string', description: 'CRUSH host name.' },
    device: { type: 'string' },
    device_class: { type: ['string', 'null'] },
    status: { type: 'string', enum: ['up', 'down'] },
    in: { type: 'boolean' },
    weight: {
      type: 'number',
      minimum: 0,
      maximum: 1,
      description: "CRUSH weight as a fraction of the device's full weight (what POST …/reweight sets).",
    },
    crush_weight: { type: 'number', description: 'CRUSH weight in TiB, as Ceph shows it.' },
    reweight: {
      type: 'number',
      description: "Ceph's 0..1 override weight (`ceph osd reweight`); 0 when the OSD is out.",
    },
    capacity_gb: { type: 'integer' },
    used_gb: { type: 'integer' },
    pgs: { type: 'integer', description: 'PGs mapped to the OSD.' },
    current_operation_id: { type: ['string', 'null'], description: 'A running reweight or drain of this OSD.' },
    updated_at: timestamp,
  },
});

export const reweightAcceptedResponseSchema: SchemaObject = dataResponseSchema({
  type: 'object',
  required: ['operation_id', 'cluster_id', 'osd_id', 'weight', 'status'],
  properties: {
    operation_id: { type: 'string', pattern: idPattern('operation') },
    cluster_id: { type: 'string', pattern: idPattern('cluster') },
    osd_id: { type: 'integer' },
    weight: { type: 'number' },
    status: { type: 'string', enum: ['pending'] },
  },
});

export const replaceAcceptedResponseSchema: SchemaObject = dataResponseSchema({
  type: 'object',
  required: ['operation_id', 'cluster_id', 'osd_id', 'device', 'status'],
  properties: {
    operation_id: { type: 'string', pattern: idPattern('operation') },
    cluster_id: { type: 'string', pattern: idPattern('cluster') },
    osd_id: { type: 'integer' },
    device: { type: ['string', 'null'], description: 'The new device (kernel name), or null for the same slot.' },
    status: { type: 'string', enum: ['pending'] },
  },
});
