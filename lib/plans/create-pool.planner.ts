import type { OperationPlan, PlanRefusal, PlanStep } from './plan';

export type PoolType = 'replicated' | 'erasure';

/**
 * Named erasure-code profiles: `k<K>m<M>` with K data and M coding chunks, K 2–12, M 1–4 (e.g.
 * k2m1, k4m2, k8m3). Each chunk goes to a different failure domain, so K+M must not exceed them.
 */
export const ERASURE_PROFILE_PATTERN = '^k([2-9]|1[0-2])m[1-4]$';
export const DEFAULT_ERASURE_PROFILE = 'k2m1';
/**
 * What `erasure_profile` accepts (issue 12 #4): a `k<K>m<M>` name, created on demand, or the name of
 * a profile the cluster already has (`default`, or any an operator made), referenced as it is.
 */
export const ERASURE_PROFILE_NAME_PATTERN =
  '^(?:k([2-9]|1[0-2])m[1-4]|(?!k[0-9]+m[0-9]+$)[A-Za-z0-9][A-Za-z0-9._-]{0,62})$';
// A name shaped k<digits>m<digits> is always the on-demand form: out of its bounds (k1m9) it is a
// 400, never taken for the name of an existing profile.

/** Whether the name is a `k<K>m<M>` profile NodeFoundry makes itself (else: an existing profile, by name). */
export function isOnDemandProfile(name: string): boolean {
  return new RegExp(ERASURE_PROFILE_PATTERN).test(name);
}
/** osd_pool_default_pg_num: the autoscaler grows it with the data. */
export const DEFAULT_PG_NUM = 32;

export interface PoolParams {
  name: string;
  type: PoolType;
  replicationFactor: number | null;
  erasureProfile: string | null;
  pgAutoscale: boolean;
  application: string | null;
  /** A named (not `k<K>m<M>`) profile's chunks as Ceph has them; absent until read (the workflow's preflight). */
  namedProfile?: { k: number; m: number };
}

export interface PoolClusterFacts {
  clusterId: string;
  status: string;
  failureDomain: string;
  /** Distinct failure domains of the cluster's nodes (hosts, racks or zones). */
  failureDomains: number;
  existingPools: string[];
}

/** What Ceph will be asked for, derived from the request. */
export interface PoolSpec {
  size: number;
  minSize: number;
  k: number | null;
  m: number | null;
  /** The Ceph profile name: the named profile and the cluster's failure domain (e.g. nf-k4m2-host). */
  cephProfile: string | null;
  crushRule: string | null;
  pgNum: number;
}

export function parseErasureProfile(name: string): { k: number; m: number } | null {
  const m = new RegExp(ERASURE_PROFILE_PATTERN).exec(name);
  if (!m) return null;
  const [, k, mm] = /^k(\d+)m(\d+)$/.exec(name)!;
  return { k: Number(k), m: Number(mm) };
}

export function poolSpec(params: PoolParams, failureDomain: string): PoolSpec {
  if (params.type === 'erasure' && params.erasureProfile && !isOnDemandProfile(params.erasureProfile)) {
    // An existing profile, used as it is: its k and m are Ceph's (0 and null until read).
    const p = params.namedProfile;
    return {
      size: p ? p.k + p.m : 0,
      minSize: p ? p.k + Math.min(1, p.m - 1) : 0,
      k: p?.k ?? null,
      m: p?.m ?? null,
      cephProfile: params.erasureProfile,
      crushRule: null,
      pgNum: DEFAULT_PG_NUM,
    };
  }
  if (params.type === 'erasure') {
    const p = parseErasureProfile(params.erasureProfile ?? DEFAULT_ERASURE_PROFILE) ?? { k: 2, m: 1 };
    // Ceph's default for erasure pools: k + 1 chunks needed to serve I/O (k when m = 1).
    return {
      size: p.k + p.m,
      minSize: p.k + Math.min(1, p.m - 1),
      k: p.k,
      m: p.m,
      cephProfile: `nf-k${p.k}m${p.m}-${failureDomain}`,
      crushRule: null,
      pgNum: DEFAULT_PG_NUM,
    };
  }
  const size = params.replicationFactor ?? 3;
  return {
    size,
    minSize: size - Math.floor(size / 2),
    k: null,
    m: null,
    cephProfile: null,
    crushRule: `nf-replicated-${failureDomain}`,
    pgNum: DEFAULT_PG_NUM,
  };
}

/** Validation of a pool against its cluster (SPEC §3), used by the API before it starts anything and by the workflow's preflight. */
export function createPoolPlan(
  facts: PoolClusterFacts,
  params: PoolParams,
): OperationPlan<'pool.create'> & { spec: PoolSpec } {
  const spec = poolSpec(params, facts.failureDomain);
  const refusals: PlanRefusal[] = [];
  if (!['HEALTH_OK', 'HEALTH_WARN'].includes(facts.status)) {
    refusals.push({
      code: 'invalid_state',
      message: `Cluster ${facts.clusterId} is ${facts.status}; pools are created on a running cluster (HEALTH_OK or HEALTH_WARN).`,
    });
  }
  if (facts.existingPools.includes(params.name))
    refusals.push({
      code: 'name_taken',
      message: `Cluster ${facts.clusterId} already has a pool named ${params.name}.`,
    });
  if (params.type === 'replicated') {
    if (spec.minSize >= spec.size) {
      refusals.push({
        code: 'validation_error',
        message: `replication_factor ${spec.size} gives min_size ${spec.minSize}, which must be below size: use 2 or more.`,
      });
    }
    if (spec.size > facts.failureDomains) {
      refusals.push({
        code: 'insufficient_failure_domains',
        message: `A replicated pool of size ${spec.size} needs ${spec.size} failure domains of type "${facts.failureDomain}"; cluster ${facts.clusterId} has ${facts.failureDomains}.`,
      });
    }
  } else if (spec.k !== null && spec.size > facts.failureDomains) {
    refusals.push({
      code: 'insufficient_failure_domains',
      message: `Erasure profile k=${spec.k} m=${spec.m} needs k+m = ${spec.size} failure domains of type "${facts.failureDomain}"; cluster ${facts.clusterId} has ${facts.failureDomains}.`,
    });
  }
  const steps: PlanStep[] = [
    {
      name: 'preflight',
      description: 'Re-check the cluster state and its failure domains.',
      checks: ['cluster HEALTH_OK or HEALTH_WARN', `size ≤ ${facts.failureDomains} failure domains`],
    },
    ...(params.type === 'erasure' && params.erasureProfile && !isOnDemandProfile(params.erasureProfile)
      ? [
          {
            name: 'create_profile',
            description: `Use the existing profile ${spec.cephProfile} as it is (nothing created).`,
            checks: [`ceph osd erasure-code-profile get ${spec.cephProfile}: it exists; k+m ≤ failure domains`],
          },
        ]
      : params.type === 'erasure'
        ? [
            {
              name: 'create_profile',
              description: `ceph osd erasure-code-profile set ${spec.cephProfile} k=${spec.k} m=${spec.m} crush-failure-domain=${facts.failureDomain}`,
              checks: ['profile read back with the same k, m and failure domain'],
            },
          ]
        : []),
    {
      name: 'create_pool',
      description: `ceph osd pool create ${params.name} ${spec.pgNum} ${spec.pgNum} ${params.type} ${params.type === 'erasure' ? spec.cephProfile : spec.crushRule}`,
      checks: ['pool read back: a pre-existing pool with other settings is refused (Ceph exits 0 and changes nothing)'],
    },
    ...(params.type === 'replicated'
      ? [{ name: 'set_size', description: `size ${spec.size}, min_size ${spec.minSize}`, checks: ['read back'] }]
      : []),
    ...(params.application
      ? [
          {
            name: 'enable_application',
            description: `ceph osd pool application enable ${params.name} ${params.application}`,
            checks: ['read back'],
          },
        ]
      : []),
    {
      name: 'set_autoscale',
      description: `pg_autoscale_mode ${params.pgAutoscale ? 'on' : 'off'}`,
      checks: ['read back'],
    },
    {
      name: 'verify',
      description: 'Read the pool back and wait for its PGs to be active+clean.',
      checks: ['all PGs active+clean'],
    },
    { name: 'record', description: 'Pool active.', checks: [] },
  ];
  return {
    type: 'pool.create',
    would_run: refusals.length === 0,
    refusals,
    steps,
    spec,
    facts: {
      cluster_id: facts.clusterId,
      failure_domain: facts.failureDomain,
      failure_domains: facts.failureDomains,
      size: spec.size,
      min_size: spec.minSize,
      k: spec.k,
      m: spec.m,
    },
  };
}
