import type { JSONSchemaType } from 'ajv';
import { BMC_PROTOCOLS, NODE_STATUSES, type BmcProtocol } from '../../db/database';
import { TLS_FINGERPRINT_PATTERN } from '../../lib/tls-fingerprint';
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
  ipmi_address?: string;
  ipmi_port?: number;
  ipmi_username?: string;
  ipmi_password?: string;
  bmc?: RegisterBmcBody;
  rack?: string | null;
  zone?: string | null;
}

/** The BMC as `bmc: {…}` (issue 13 #5); the flat ipmi_* fields are the same BMC with protocol ipmi. */
export interface RegisterBmcBody {
  protocol: BmcProtocol;
  address: string;
  port?: number;
  username: string;
  password: string;
  tls_fingerprint?: string | null;
}

/** Default BMC ports: IPMI over LAN (RMCP+) and Redfish (HTTPS). */
export const DEFAULT_BMC_PORT: Record<BmcProtocol, number> = { ipmi: 623, redfish: 443 };

const IPMI_FIELDS = ['ipmi_address', 'ipmi_port', 'ipmi_username', 'ipmi_password'] as const;

const bmcBodySchema = {
  type: 'object',
  description:
    'The BMC: IPMI over LAN (lanplus) or Redfish over HTTPS. Give either this or the ipmi_* fields (which mean protocol `ipmi`), never both.',
  properties: {
    protocol: { type: 'string', enum: [...BMC_PROTOCOLS], default: 'ipmi' },
    address: { type: 'string', format: 'ip', maxLength: 45, description: 'BMC address.' },
    port: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      description: 'Default 623 for `ipmi`, 443 for `redfish`.',
    },
    username: { ...printable(64), description: 'BMC user (IPMI 2.0 allows 16 bytes).' },
    password: {
      ...printable(128),
      description: 'BMC password (IPMI 2.0 allows 20 bytes). Stored encrypted; never returned.',
    },
    tls_fingerprint: {
      type: 'string',
      pattern: TLS_FINGERPRINT_PATTERN,
      nullable: true,
      description:
        'Redfish only: the SHA-256 fingerprint of the BMC certificate to pin (as `openssl x509 -noout -fingerprint -sha256` prints it). Absent: the certificate presented at registration is pinned. Either way every later connection must present it (else `bmc_certificate_mismatch`).',
    },
  },
  required: ['address', 'username', 'password'],
  additionalProperties: false,
  // IPMI's limits, and no certificate: unless protocol is redfish.
  if: { properties: { protocol: { const: 'redfish' } }, required: ['protocol'] },
  then: {},
  else: {
    properties: {
      username: { type: 'string', maxLength: 16 },
      password: { type: 'string', maxLength: 20 },
      tls_fingerprint: { type: 'null' },
    },
  },
} as const;

export const registerNodeBodySchema = {
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
    ipmi_address: {
      type: 'string',
      format: 'ip',
      maxLength: 45,
      description:
        'BMC address (IPMI over LAN, lanplus). With ipmi_username and ipmi_password: the same as `bmc` with protocol `ipmi`.',
    },
    ipmi_port: { type: 'integer', minimum: 1, maximum: 65535, description: 'Default 623.' },
    ipmi_username: { ...printable(16), description: 'IPMI user (IPMI 2.0 allows 16 bytes).' },
    ipmi_password: {
      ...printable(20),
      description: 'IPMI password (IPMI 2.0 allows 20 bytes). Stored encrypted; never returned.',
    },
    bmc: bmcBodySchema,
    rack: { ...label, description: 'Rack label (failure domain "rack").' },
    zone: { ...label, description: 'Zone label (failure domain "zone").' },
  },
  required: ['hostname', 'ip_address', 'ssh_user', 'ssh_private_key'],
  additionalProperties: false,
  // The BMC: the ipmi_* fields (protocol ipmi, the seed's shape) or `bmc`, exactly one of the two.
  // (`{not: {}}`: a property that must be absent; `{}`: declared above.)
  anyOf: [
    {
      required: ['ipmi_address', 'ipmi_username', 'ipmi_password'],
      properties: { ipmi_address: {}, ipmi_username: {}, ipmi_password: {}, bmc: { not: {} } },
    },
    { required: ['bmc'], properties: { bmc: {}, ...Object.fromEntries(IPMI_FIELDS.map((f) => [f, { not: {} }])) } },
  ],
} as unknown as JSONSchemaType<RegisterNodeBody>;

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
    bmc: allRequired({
      type: 'object',
      description: 'The BMC (the ipmi_* fields are its address, port and user whatever the protocol).',
      properties: {
        protocol: { type: 'string', enum: [...BMC_PROTOCOLS] },
        address: { type: 'string' },
        port: { type: 'integer' },
        username: { type: 'string' },
        tls_fingerprint: {
          ...nullableString,
          description: 'Redfish: SHA-256 fingerprint of the BMC certificate, pinned at registration; null for IPMI.',
        },
      },
    }),
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
