import type { JSONSchemaType } from 'ajv';
import { idPattern } from '../../lib/ids';
import { ERASURE_PROFILE_NAME_PATTERN } from '../../lib/plans/create-pool.planner';
import { allRequired, dataResponseSchema, nullableString, timestamp, type SchemaObject } from './common.schemas';

export const POOL_APPLICATIONS = ['rbd', 'cephfs', 'rgw'] as const;
/** Ceph pool names NodeFoundry creates: no leading dot (Ceph's own pools, .mgr, start with one). */
export const POOL_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$';

export interface CreatePoolBody {
  name: string;
  type: 'replicated' | 'erasure';
  replication_factor?: number | null;
  erasure_profile?: string | null;
  pg_autoscale: boolean;
  application?: (typeof POOL_APPLICATIONS)[number] | null;
}

export const createPoolBodySchema: JSONSchemaType<CreatePoolBody> = {
  type: 'object',
  properties: {
    name: {
      type: 'string',
      pattern: POOL_NAME_PATTERN,
      description: 'Letters, digits, `.`, `_`, `-`; unique in the cluster.',
    },
    type: { type: 'string', enum: ['replicated', 'erasure'] },
    replication_factor: {
      type: 'integer',
      minimum: 2,
      maximum: 10,
      nullable: true,
      description:
        "Replicated pools only: size, 2–10, default 3 (applied by the schema's `then` for `type: replicated`; null means the default too). min_size is size − ⌊size/2⌋ and must stay below size, hence at least 2. At most the cluster's failure domains. Erasure pools take their size from erasure_profile and refuse it.",
    },
    erasure_profile: {
      type: 'string',
      pattern: ERASURE_PROFILE_NAME_PATTERN,
      nullable: true,
      description:
        "Erasure pools: a named erasure code profile. `k<K>m<M>` (K data chunks 2–12, M coding chunks 1–4, e.g. `k2m1`, `k4m2`) is created on demand; any other name (e.g. Ceph's `default`, k=2 m=2) must be a profile the cluster already has, used as it is (else the operation fails with `erasure_profile_not_found`). Default `k2m1`. K+M must not exceed the failure domains.",
    },
    pg_autoscale: { type: 'boolean', default: true, description: 'pg_autoscale_mode on (default) or off.' },
    application: { type: 'string', enum: [...POOL_APPLICATIONS], nullable: true },
  },
  required: ['name', 'type'],
  additionalProperties: false,
  // The seed's "For replicated pools. Default: 3", as schema: the validator fills 3 in for a
  // replicated pool without one (ajv useDefaults applies `then` defaults), and an erasure pool's
  // replication_factor is refused by the schema itself, so the document says what the server does.
  if: { properties: { type: { const: 'replicated' } } },
  then: { properties: { replication_factor: { default: 3 } } },
  else: { properties: { replication_factor: { type: 'null' } } },
} as JSONSchemaType<CreatePoolBody>;

export const poolViewSchema: SchemaObject = allRequired({
  type: 'object',
  properties: {
    id: { type: 'string', pattern: idPattern('pool') },
    cluster_id: { type: 'string', pattern: idPattern('cluster') },
    name: { type: 'string' },
    type: { type: 'string', enum: ['replicated', 'erasure'] },
    replication_factor: { type: ['integer', 'null'] },
    size: { type: 'integer' },
    min_size: { type: 'integer' },
    erasure_profile: nullableString,
    k: { type: ['integer', 'null'] },
    m: { type: ['integer', 'null'] },
    pg_num: { type: 'integer' },
    pg_autoscale: { type: 'boolean' },
    application: nullableString,
    status: { type: 'string', enum: ['creating', 'active', 'deleting', 'error'] },
    status_reason: nullableString,
    created_at: timestamp,
    updated_at: timestamp,
  },
});

export const poolAcceptedResponseSchema = dataResponseSchema({
  ...poolViewSchema,
  required: [...(poolViewSchema.required as string[]), 'operation_id'],
  properties: {
    ...(poolViewSchema.properties as SchemaObject),
    operation_id: { type: 'string', pattern: idPattern('operation') },
  },
});
