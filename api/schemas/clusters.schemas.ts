import type { JSONSchemaType } from 'ajv';
import { CLUSTER_DEPLOYMENTS, CLUSTER_STATUSES, type ClusterDeployment, type ClusterStatus } from '../../db/database';
import { idPattern } from '../../lib/ids';
import { CEPH_RELEASES } from '../../lib/ceph-releases';
import {
  allRequired,
  dataResponseSchema,
  nullableString,
  nullableTimestamp,
  pageProperties,
  timestamp,
  type PageQuery,
  type SchemaObject,
} from './common.schemas';

export const CEPH_VERSIONS = ['reef', 'squid', 'tentacle'] as const;
export const FAILURE_DOMAINS = ['host', 'rack', 'zone'] as const;

export interface CreateClusterBody {
  name: string;
  node_ids: string[];
  ceph_version: (typeof CEPH_VERSIONS)[number];
  failure_domain: (typeof FAILURE_DOMAINS)[number];
  replication_factor: number;
  deployment: ClusterDeployment;
}

const deploymentSchema = {
  type: 'string',
  enum: [...CLUSTER_DEPLOYMENTS],
  default: 'packages',
  description:
    "How Ceph is deployed and driven (docs/clusters.md, Deployers): `packages` (default) = the release's Debian/ceph.com packages over SSH, daemons as systemd units `ceph-mon@<host>`, `ceph-mgr@<host>`, `ceph-osd@N`; `cephadm` = containers managed by `ceph orch` (needs a container runtime and an image registry). Every later operation (upgrade, restart, delete) uses the same deployer.",
} as const;

export const createClusterBodySchema: JSONSchemaType<CreateClusterBody> = {
  type: 'object',
  properties: {
    name: {
      type: 'string',
      minLength: 1,
      maxLength: 63,
      pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$',
      description: 'Lowercase letters, digits and hyphens (not at either end); unique in the account and environment.',
    },
    node_ids: {
      type: 'array',
      minItems: 3,
      maxItems: 1000,
      uniqueItems: true,
      items: { type: 'string', pattern: idPattern('node') },
      description:
        'At least 3 distinct ready nodes of this account and environment, in no cluster and not held. The first bootstraps the cluster.',
    },
    ceph_version: { type: 'string', enum: [...CEPH_VERSIONS] },
    failure_domain: {
      type: 'string',
      enum: [...FAILURE_DOMAINS],
      default: 'host',
      description: "`rack` and `zone` use the nodes' rack/zone labels.",
    },
    replication_factor: {
      type: 'integer',
      minimum: 1,
      maximum: 10,
      default: 3,
      description: 'Default pool size; at most the number of failure domains.',
    },
    deployment: deploymentSchema,
  },
  required: ['name', 'node_ids', 'ceph_version'],
  additionalProperties: false,
};

export interface ImportClusterBody {
  name: string;
  admin_node_id: string;
  node_ids: string[];
  deployment: ClusterDeployment;
}

export const importClusterBodySchema: JSONSchemaType<ImportClusterBody> = {
  type: 'object',
  properties: {
    name: createClusterBodySchema.properties!.name,
    admin_node_id: {
      type: 'string',
      pattern: idPattern('node'),
      description:
        'The member whose `ceph` CLI (admin keyring, ceph.conf) NodeFoundry uses to drive the cluster. One of node_ids.',
    },
    node_ids: {
      type: 'array',
      minItems: 1,
      // As on create: 1000 ids are about 34 KB of JSON, 2000 were more than a body may be (64 KiB).
      maxItems: 1000,
      uniqueItems: true,
      items: { type: 'string', pattern: idPattern('node') },
      description:
        "Every host of the cluster, as registered ready nodes of this account and environment (in no cluster, not held), the admin node included. Each node's hostname must be the name Ceph uses for the host (daemon metadata, CRUSH); the import refuses (`unknown_hosts`) a cluster with daemons on a host that is not among them.",
    },
    deployment: {
      ...deploymentSchema,
      description:
        'How the imported cluster was deployed, so that later operations use its commands: `packages` (default; systemd units ceph-osd@N …) or `cephadm` (ceph orch, units ceph-<fsid>@osd.N).',
    },
  },
  required: ['name', 'admin_node_id', 'node_ids'],
  additionalProperties: false,
};

export interface ClusterListQuery extends PageQuery {
  status?: ClusterStatus | null;
}

export const clusterListQuerySchema: JSONSchemaType<ClusterListQuery> = {
  type: 'object',
  properties: {
    ...pageProperties,
    status: {
      type: 'string',
      enum: [...CLUSTER_STATUSES],
      nullable: true,
      description:
        'Only clusters in this status (HEALTH_OK, HEALTH_WARN, HEALTH_ERR; also CREATING, IMPORTING, ERROR, DELETING).',
    },
  },
  required: [],
  additionalProperties: false,
};

// ---- Responses ------------------------------------------------------------------------------------

export const clusterViewSchema: SchemaObject = allRequired({
  type: 'object',
  properties: {
    id: { type: 'string', pattern: idPattern('cluster') },
    name: { type: 'string' },
    status: { type: 'string', enum: [...CLUSTER_STATUSES] },
    status_reason: nullableString,
    ceph_version: {
      type: 'string',
      enum: [...CEPH_RELEASES, 'unknown'],
      description:
        'The Ceph release the cluster runs, by name (`reef`, `squid`, `tentacle`; an imported cluster may run an older one). `unknown` only while an import has not read Ceph yet.',
    },
    ceph_point_version: {
      type: ['string', 'null'],
      pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+$',
      description:
        'The point version most daemons run (`18.2.4`), from `ceph versions` at the end of the last operation on the cluster (create, import, upgrade, …); null until read.',
    },
    node_count: { type: 'integer' },
    osd_count: { type: 'integer' },
    raw_capacity_tib: { type: 'number' },
    used_capacity_tib: {
      type: ['number', 'null'],
      description:
        "Raw capacity used (every copy counted), TiB, from Ceph's PG map at the last monitor round or operation; null until first read.",
    },
    failure_domain: { type: 'string', enum: [...FAILURE_DOMAINS] },
    replication_factor: { type: 'integer' },
    deployment: { type: 'string', enum: [...CLUSTER_DEPLOYMENTS] },
    current_operation_id: { ...nullableString, description: 'The operation running on this cluster, if any.' },
    created_at: timestamp,
  },
});

export const clusterDetailSchema: SchemaObject = allRequired({
  ...clusterViewSchema,
  properties: {
    ...(clusterViewSchema.properties as SchemaObject),
    fsid: nullableString,
    admin_node_id: nullableString,
    health: allRequired({
      type: 'object',
      properties: { status: { type: 'string' }, observed_at: nullableTimestamp },
    }),
    capacity: allRequired({
      type: 'object',
      properties: {
        raw_capacity_tib: { type: 'number' },
        used_capacity_tib: { type: ['number', 'null'] },
        osd_count: { type: 'integer' },
        osds_up: { type: 'integer' },
        osds_in: { type: 'integer' },
      },
    }),
    nodes: {
      type: 'array',
      items: allRequired({
        type: 'object',
        properties: {
          id: { type: 'string' },
          hostname: { type: 'string' },
          status: { type: 'string' },
          rack: nullableString,
          zone: nullableString,
          osd_count: { type: 'integer' },
        },
      }),
    },
    pool_count: { type: 'integer' },
    updated_at: timestamp,
  },
});

export const clusterAcceptedResponseSchema = dataResponseSchema({
  type: 'object',
  required: ['id', 'name', 'status', 'operation_id'],
  properties: {
    id: { type: 'string', pattern: idPattern('cluster') },
    name: { type: 'string' },
    status: { type: 'string', enum: ['CREATING', 'IMPORTING', 'DELETING'] satisfies ClusterStatus[] },
    operation_id: { type: 'string', pattern: idPattern('operation') },
  },
});
