import type { JSONSchemaType } from 'ajv';
import { SANDBOX_FAULTS, type SandboxFault } from '../../drivers/sandbox';
import { idPattern } from '../../lib/ids';
import { dataResponseSchema, timestamp, type SchemaObject } from './common.schemas';

export interface SetFaultsBody {
  /** After validation every known fault is present: absent ones default to false (off). */
  faults: Record<SandboxFault, boolean>;
}

const FAULT_DESCRIPTIONS: Record<SandboxFault, string> = {
  bmc_unreachable: 'The BMC does not answer: power calls fail with bmc_unreachable (retried, then failed).',
  bmc_auth_fail: 'The BMC rejects the credentials: bmc_auth_failed, never retried.',
  power_state_unknown:
    'The BMC answers every power-state read with an error: bmc_power_unknown (retried, then failed). Commands still work, but none is sent while the state is unknown: it is never taken for "off".',
  no_boot: 'Power comes on but the OS never boots: SSH stays unreachable.',
  soft_off_ignored: 'The OS ignores ACPI soft power-off: a graceful reboot waits until it times out or is cancelled.',
  host_key_changed: 'The host presents another SSH host key: host_key_mismatch.',
  osds_stay_down: 'The host boots but its OSDs never come up.',
  rm_cluster_fails:
    "Ceph's daemons on the host will not stop: a cluster deletion's stop_ceph step fails there (retried, then failed).",
  mons_mgrs_stay_down:
    'Mons and mgrs placed on the host never come up: a placement onto it (a host removal moving a mon or mgr there) waits until its bound or a cancel.',
};

export const setFaultsBodySchema: JSONSchemaType<SetFaultsBody> = {
  type: 'object',
  properties: {
    faults: {
      type: 'object',
      description:
        'The complete set of faults: each known fault on (true) or off (false or absent). `{}` clears them all.',
      properties: Object.fromEntries(
        SANDBOX_FAULTS.map((f) => [f, { type: 'boolean', default: false, description: FAULT_DESCRIPTIONS[f] }]),
      ) as unknown as JSONSchemaType<SetFaultsBody>['properties']['faults']['properties'],
      required: [],
      additionalProperties: false,
    },
  },
  required: ['faults'],
  additionalProperties: false,
};

export const sandboxMachineViewSchema: SchemaObject = {
  type: 'object',
  required: ['node_id', 'machine_id', 'power_state', 'running', 'shutting_down', 'faults', 'power_log'],
  properties: {
    node_id: { type: 'string', pattern: idPattern('node') },
    machine_id: { type: 'string' },
    hostname: { type: 'string' },
    ip_address: { type: 'string' },
    ipmi_address: { type: 'string' },
    power_state: { type: 'string', enum: ['on', 'off'] },
    running: { type: 'boolean', description: 'The OS is up (SSH answers).' },
    shutting_down: { type: 'boolean', description: 'A soft power-off is in progress.' },
    boot_delay_ms: { type: 'integer' },
    shutdown_delay_ms: { type: 'integer' },
    cpu_cores: { type: 'integer' },
    ram_gb: { type: 'integer' },
    faults: { type: 'array', items: { type: 'string', enum: [...SANDBOX_FAULTS] } },
    power_log: {
      type: 'array',
      description: 'Every chassis command the simulated BMC accepted, oldest first, with the operation that sent it.',
      items: {
        type: 'object',
        required: ['action', 'at', 'operation_id'],
        properties: {
          action: { type: 'string' },
          at: timestamp,
          operation_id: {
            type: ['string', 'null'],
            description: 'The operation whose workflow sent the command; null when none did.',
          },
        },
      },
    },
    device_log: {
      type: 'array',
      description: 'Every wipe of one of its devices (`zap`: `ceph-volume lvm zap --destroy`), oldest first.',
      items: {
        type: 'object',
        required: ['action', 'device', 'cluster_id', 'operation_id', 'at'],
        properties: {
          action: { type: 'string' },
          device: { type: 'string' },
          cluster_id: { type: ['string', 'null'] },
          operation_id: { type: ['string', 'null'] },
          at: timestamp,
        },
      },
    },
  },
};

export const sandboxMachineResponseSchema = dataResponseSchema(sandboxMachineViewSchema);

export interface SeedCephClusterBody {
  node_ids: string[];
  ceph_version: 'quincy' | 'reef' | 'squid' | 'tentacle';
  replication: number;
}

export const seedCephClusterBodySchema: JSONSchemaType<SeedCephClusterBody> = {
  type: 'object',
  properties: {
    node_ids: {
      type: 'array',
      minItems: 1,
      maxItems: 1000,
      uniqueItems: true,
      items: { type: 'string', pattern: idPattern('node') },
      description:
        'Registered sandbox nodes in no cluster. One OSD per drive that passed SMART; mons on the first three, mgrs on the first two.',
    },
    ceph_version: { type: 'string', enum: ['quincy', 'reef', 'squid', 'tentacle'], default: 'reef' },
    replication: {
      type: 'integer',
      minimum: 1,
      maximum: 10,
      default: 3,
      description: 'Size of the PGs; at most the number of nodes.',
    },
  },
  required: ['node_ids'],
  additionalProperties: false,
};

export const seedCephClusterResponseSchema: SchemaObject = dataResponseSchema({
  type: 'object',
  required: ['fsid', 'hosts', 'osds'],
  properties: {
    fsid: { type: 'string' },
    hosts: { type: 'array', items: { type: 'string' } },
    osds: { type: 'integer' },
  },
});
