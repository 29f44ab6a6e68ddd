import { CLUSTER_STATUSES } from '../../db/database';
import { idPattern } from '../../lib/ids';
import { nullableString, nullableTimestamp, timestamp, type SchemaObject } from './common.schemas';

/** GET /v1/clusters/{id}/health (docs/api.md §Cluster health). */
export const clusterHealthSchema: SchemaObject = {
  type: 'object',
  required: [
    'cluster_id',
    'status',
    'status_reason',
    'observed_at',
    'checks',
    'flags',
    'noout_hosts',
    'autoscale_frozen',
    'osds_down',
    'osds_out',
    'mons',
    'mgr_available',
    'pgs',
    'capacity',
  ],
  additionalProperties: false,
  properties: {
    cluster_id: { type: 'string', pattern: idPattern('cluster') },
    status: { type: 'string', enum: [...CLUSTER_STATUSES] },
    status_reason: nullableString,
    observed_at: { ...nullableTimestamp, description: 'When the cluster monitor last read Ceph (null: never).' },
    checks: {
      type: 'array',
      description:
        "Health checks in effect: Ceph's (source `ceph`) and NodeFoundry's own drift checks (source `nodefoundry`, codes NF_*).",
      items: {
        type: 'object',
        required: ['code', 'source', 'severity', 'summary', 'since', 'observed_at'],
        additionalProperties: false,
        properties: {
          code: { type: 'string' },
          source: { type: 'string', enum: ['ceph', 'nodefoundry'] },
          severity: { type: 'string', enum: ['HEALTH_WARN', 'HEALTH_ERR'] },
          summary: { type: 'string' },
          since: { ...timestamp, description: 'When the monitor first saw this check (raised).' },
          observed_at: timestamp,
        },
      },
    },
    flags: {
      type: 'array',
      items: { type: 'string' },
      description: 'OSD map flags in effect (cluster-wide and per CRUSH node).',
    },
    noout_hosts: { type: 'array', items: { type: 'string' }, description: 'Hosts carrying noout.' },
    autoscale_frozen: {
      type: ['boolean', 'null'],
      description: 'Whether PG autoscaling is frozen (`noautoscale`, set by upgrades); null: not read yet.',
    },
    osds_down: {
      type: 'array',
      items: {
        type: 'object',
        required: ['osd_id', 'host', 'in'],
        additionalProperties: false,
        properties: { osd_id: { type: 'integer' }, host: { type: 'string' }, in: { type: 'boolean' } },
      },
    },
    osds_out: { type: 'array', items: { type: 'integer' }, description: 'Ids of OSDs marked out.' },
    mons: {
      type: 'object',
      required: ['in_quorum', 'total'],
      additionalProperties: false,
      properties: { in_quorum: { type: 'array', items: { type: 'string' } }, total: { type: 'integer' } },
    },
    mgr_available: { type: ['boolean', 'null'] },
    pgs: {
      type: 'object',
      required: ['total', 'active_clean'],
      additionalProperties: false,
      properties: { total: { type: ['integer', 'null'] }, active_clean: { type: ['integer', 'null'] } },
    },
    capacity: {
      type: 'object',
      description:
        "Raw capacity from Ceph's PG map (`ceph status` pgmap bytes_total/bytes_used/bytes_avail), bytes, every copy counted (3× replication: 1 GB written uses 3 GB). null until the monitor's first round, or when Ceph does not report them.",
      required: ['raw_bytes', 'used_bytes', 'avail_bytes'],
      additionalProperties: false,
      properties: {
        raw_bytes: { type: ['integer', 'null'] },
        used_bytes: { type: ['integer', 'null'] },
        avail_bytes: { type: ['integer', 'null'] },
      },
    },
  },
};
