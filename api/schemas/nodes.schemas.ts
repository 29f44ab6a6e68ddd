import type { JSONSchemaType } from 'ajv';
import { NODE_STATUSES } from '../../db/database';
import { idPattern } from '../../lib/ids';
import type { RebootMethod } from '../../workflows/contracts';
import {
  allRequired,
  dataResponseSchema,
  nullableString,
  pageProperties,
  timestamp,
  type PageQuery,
  type SchemaObject,
} from './common.schemas';

/**
 * The status filter: a node status (NODE_STATUSES, db/database.ts, says what each means), or `hold`,
 * which is not a status but a filter value for held nodes (the `held` flag).
 */
export const NODE_STATUS_FILTERS = [...NODE_STATUSES, 'hold'] as const;

const label = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$', nullable: true } as const;
const printable = (max: number) =>
  ({ type: 'string', minLength: 1, maxLength: max, pattern: '^[\\x20-\\x7e]+$' }) as const;

export interface RegisterNodeBody {
  hostname: string;
  ip_address: string;
  ssh_port: number;
  ssh_user: string;
  ssh_private_key: string;
  ipmi_address: string;
  ipmi_port: number;
  ipmi_username: string;
  ipmi_password: string;
  rack?: string | null;
  zone?: string | null;
}

export const registerNodeBodySchema: JSONSchemaType<RegisterNodeBody> = {
  type: 'object',
  properties: {
    hostname: {
      type: 'string',
      format: 'hostname',
      minLength: 1,
      maxLength: 253,
      description: 'The host name Ceph will know the node by.',
    },
    ip_address: {
      type: 'string',
      format: 'ip',
      maxLength: 45,
      description: 'Address NodeFoundry reaches the host on over SSH.',
    },
    ssh_port: { type: 'integer', minimum: 1, maximum: 65535, default: 22 },
    ssh_user: {
      type: 'string',
      pattern: '^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$',
      description: 'A user with passwordless sudo.',
    },
    ssh_private_key: {
      type: 'string',
      minLength: 1,
      maxLength: 16384,
      description: 'Unencrypted private key (OpenSSH or PEM). Stored encrypted; never returned.',
    },
    ipmi_address: { type: 'string', format: 'ip', maxLength: 45, description: 'BMC address (IPMI over LAN, lanplus).' },
    ipmi_port: { type: 'integer', minimum: 1, maximum: 65535, default: 623 },
    ipmi_username: { ...printable(16), description: 'IPMI user (IPMI 2.0 allows 16 bytes).' },
    ipmi_password: {
      ...printable(20),
      description: 'IPMI password (IPMI 2.0 allows 20 bytes). Stored encrypted; never returned.',
    },
    rack: { ...label, description: 'Rack label (failure domain "rack").' },
    zone: { ...label, description: 'Zone label (failure domain "zone").' },
  },
  required: ['hostname', 'ip_address', 'ssh_user', 'ssh_private_key', 'ipmi_address', 'ipmi_username', 'ipmi_password'],
  additionalProperties: false,
};

export interface NodeListQuery extends PageQuery {
  cluster_id?: string | null;
  status?: (typeof NODE_STATUS_FILTERS)[number] | null;
}

export const nodeListQuerySchema: JSONSchemaType<NodeListQuery> = {
  type: 'object',
  properties: {
    ...pageProperties,
    cluster_id: {
      type: 'string',
      pattern: idPattern('cluster'),
      nullable: true,
      description: 'Only nodes of this cluster.',
    },
    status: {
      type: 'string',
      enum: [...NODE_STATUS_FILTERS],
      nullable: true,
      description: 'Only nodes in this status (`hold`: held nodes).',
    },
  },
  required: [],
  additionalProperties: false,
};

export interface PatchNodeBody {
  state: 'hold' | 'ready';
}

export const patchNodeBodySchema: JSONSchemaType<PatchNodeBody> = {
  type: 'object',
  properties: {
    state: {
      type: 'string',
      enum: ['hold', 'ready'],
      description: '`hold`: never pick this node for new work; `ready`: release the hold.',
    },
  },
  required: ['state'],
  additionalProperties: false,
};

export interface RebootNodeBody {
  method: RebootMethod;
  drain_osds: boolean;
}

export const rebootNodeBodySchema: JSONSchemaType<RebootNodeBody> = {
  type: 'object',
  properties: {
    method: {
      type: 'string',
      enum: ['graceful', 'hard'],
      default: 'graceful',
      description: '`graceful`: IPMI soft power-off, wait until off, power on. `hard`: power off, then on.',
    },
    drain_osds: {
      type: 'boolean',
      default: true,
      description: "Stop the node's OSDs (marked down cleanly) before the power cycle.",
    },
  },
  required: [],
  additionalProperties: false,
};

// ---- Responses ------------------------------------------------------------------------------------

export const driveSchema: SchemaObject = {
  type: 'object',
  required: ['device', 'size_gb', 'type', 'smart_ok'],
  properties: {
    device: { type: 'string' },
    size_gb: { type: 'number' },
    type: { type: 'string', enum: ['nvme', 'ssd', 'hdd'] },
    smart_ok: { type: 'boolean' },
  },
};

export const nodeViewSchema: SchemaObject = allRequired({
  type: 'object',
  properties: {
    id: { type: 'string', pattern: idPattern('node') },
    hostname: { type: 'string' },
    status: {
      type: 'string',
      enum: [...NODE_STATUSES],
      description:
        '`online`: serving in its cluster; `offline`: a member the cluster monitor could not reach (`status_reason`: `ssh: …` and/or `bmc: …`). `maintenance`: in maintenance mode (POST/DELETE /v1/nodes/{id}/maintenance).',
    },
    state: { type: 'string', enum: ['hold', 'ready'], description: '`hold` when held, else `ready`.' },
    held: { type: 'boolean' },
    status_reason: nullableString,
    cluster_id: nullableString,
    ip_address: { type: 'string' },
    ssh_port: { type: 'integer' },
    ssh_user: { type: 'string' },
    ipmi_address: { type: 'string' },
    ipmi_port: { type: 'integer' },
    ipmi_username: { type: 'string' },
    ssh_host_key_fingerprint: { ...nullableString, description: 'Pinned at registration (SHA256:…).' },
    cpu_cores: { type: ['integer', 'null'] },
    ram_gb: { type: ['integer', 'null'] },
    drives: { type: 'array', items: driveSchema },
    rack: nullableString,
    zone: nullableString,
    current_operation_id: { ...nullableString, description: 'The operation running on this node, if any.' },
    created_at: timestamp,
    updated_at: timestamp,
  },
});

export const registeredNodeResponseSchema = dataResponseSchema({
  ...nodeViewSchema,
  required: [...(nodeViewSchema.required as string[]), 'operation_id'],
  properties: {
    ...(nodeViewSchema.properties as SchemaObject),
    operation_id: { type: 'string', pattern: idPattern('operation') },
  },
});

/** POST /v1/nodes/{id}/maintenance (issue 13 #1). */
export interface EnterMaintenanceBody {
  power_off: boolean;
}

export const enterMaintenanceBodySchema: JSONSchemaType<EnterMaintenanceBody> = {
  type: 'object',
  properties: {
    power_off: {
      type: 'boolean',
      default: false,
      description:
        'Power the machine off (BMC soft power-off, polled until off) once its OSDs are stopped. The exit powers it back on.',
    },
  },
  required: [],
  additionalProperties: false,
};

export const maintenanceAcceptedResponseSchema = dataResponseSchema({
  type: 'object',
  required: ['operation_id', 'node_id', 'status'],
  properties: {
    operation_id: { type: 'string', pattern: idPattern('operation') },
    node_id: { type: 'string', pattern: idPattern('node') },
    status: { type: 'string', enum: ['pending'] },
  },
});

export const rebootAcceptedResponseSchema = dataResponseSchema({
  type: 'object',
  required: ['operation_id', 'node_id', 'status'],
  properties: {
    operation_id: { type: 'string', pattern: idPattern('operation') },
    node_id: { type: 'string', pattern: idPattern('node') },
    status: { type: 'string', enum: ['pending'] },
  },
});
