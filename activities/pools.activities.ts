import { Context } from '@temporalio/activity';
import type { ActivityDeps } from './deps';
import * as clusters from '../db/repositories/clusters.repository';
import * as pools from '../db/repositories/pools.repository';
import type { Pool } from '../db/database';
import type { CephErasureProfile, CephPool, CrushFailureDomain } from '../drivers/types';
import type { PoolClusterFacts } from '../lib/plans/create-pool.planner';
import { cephFor } from './targets';
import { FAILURE, guarded, permanent } from './failures';

export interface PoolFacts {
  poolId: string;
  clusterId: string;
  name: string;
  type: Pool['type'];
  size: number;
  min_size: number;
  k: number | null;
  m: number | null;
  erasure_profile: string | null;
  pg_autoscale: boolean;
  application: string | null;
  status: Pool['status'];
}

/**
 * Pools (SPEC §3). Ceph's exit codes are not trusted (LAB.md: creating an existing pool with
 * another PG count exits 0 and changes nothing): every change is read back and compared.
 */
export function createPoolActivities(deps: ActivityDeps) {
  async function readPool(clusterId: string, name: string): Promise<CephPool | null> {
    return (await (await cephFor(deps, clusterId)).pools()).find((p) => p.name === name) ?? null;
  }

  return {
    async describePoolCluster(input: { clusterId: string; excludePoolId?: string }): Promise<PoolClusterFacts> {
      const c = await clusters.getClusterById(deps.db, input.clusterId);
      if (!c) throw permanent(FAILURE.invalidState, `Cluster ${input.clusterId} does not exist.`);
      return {
        clusterId: c.id,
        status: c.status,
        failureDomain: c.failure_domain,
        failureDomains: await clusters.failureDomainCount(deps.db, c.id, c.failure_domain),
        existingPools: await pools.poolNames(deps.db, c.id, input.excludePoolId),
      };
    },

    async describePool(input: { poolId: string }): Promise<PoolFacts> {
      const p = await pools.getPoolById(deps.db, input.poolId);
      if (!p) throw permanent(FAILURE.invalidState, `Pool ${input.poolId} does not exist.`);
      return {
        poolId: p.id,
        clusterId: p.cluster_id,
        name: p.name,
        type: p.type,
        size: p.size,
        min_size: p.min_size,
        k: p.k,
        m: p.m,
        erasure_profile: p.erasure_profile,
        pg_autoscale: p.pg_autoscale,
        application: p.application,
        status: p.status,
      };
    },

    /** An existing erasure code profile's chunks (`ceph osd erasure-code-profile get`); null when the cluster has none of that name. */
    async readErasureProfile(input: { clusterId: string; name: string }): Promise<{ k: number; m: number } | null> {
      return guarded(async () => {
        const got = await (await cephFor(deps, input.clusterId)).erasureProfile(input.name);
        return got ? { k: got.k, m: got.m } : null;
      });
    },

    /** Sets the profile and reads it back: Ceph refuses (EPERM) to change a profile of that name. */
    async ensureErasureProfile(input: { clusterId: string; profile: CephErasureProfile }): Promise<void> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        const want = input.profile;
        const before = await ceph.erasureProfile(want.name);
        if (!before) await ceph.setErasureProfile(want);
        const got = await ceph.erasureProfile(want.name);
        if (!got || got.k !== want.k || got.m !== want.m || got.failure_domain !== want.failure_domain) {
          throw permanent(
            FAILURE.invalidState,
            `Erasure profile ${want.name} reads back as ${got ? `k=${got.k} m=${got.m} failure domain ${got.failure_domain ?? 'none'}` : 'missing'}, not k=${want.k} m=${want.m} failure domain ${want.failure_domain ?? 'none'}.`,
          );
        }
      });
    },

    /**
     * Creates the pool unless it exists. A pool of that name that this operation did not create
     * (other type, profile or rule) is refused, not adopted: Ceph would have exited 0 and changed nothing.
     */
    async createCephPool(input: {
      clusterId: string;
      name: string;
      type: 'replicated' | 'erasure';
      pgNum: number;
      crushRule: string | null;
      cephProfile: string | null;
      failureDomain: CrushFailureDomain;
    }): Promise<{ pool_id: number }> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        // A cluster NodeFoundry did not create (imported) may lack the rule: it is made the same way.
        if (input.crushRule && !(await ceph.crushRules()).some((r) => r.name === input.crushRule)) {
          await ceph.createCrushRule(input.crushRule, input.failureDomain);
        }
        const ruleId = input.crushRule
          ? (await ceph.crushRules()).find((r) => r.name === input.crushRule)?.id
          : undefined;
        if (input.crushRule && ruleId === undefined) {
          throw permanent(FAILURE.invalidState, `CRUSH rule ${input.crushRule} does not exist in the cluster.`);
        }
        const matches = (p: CephPool) =>
          p.type === input.type &&
          (input.type === 'erasure' ? p.erasure_profile === input.cephProfile : p.crush_rule_id === ruleId);
        const existing = await readPool(input.clusterId, input.name);
        if (existing && !matches(existing)) {
          throw permanent(
            FAILURE.invalidState,
            `Ceph already has a pool ${input.name} (${existing.type}, ${existing.erasure_profile ? `profile ${existing.erasure_profile}` : `rule ${existing.crush_rule_id}`}, pg_num ${existing.pg_num}) that NodeFoundry did not create.`,
          );
        }
        if (!existing) {
          await ceph.createPool({
            name: input.name,
            type: input.type,
            pg_num: input.pgNum,
            crush_rule: input.crushRule,
            erasure_profile: input.cephProfile,
          });
        }
        const got = await readPool(input.clusterId, input.name);
        if (!got || !matches(got))
          throw new Error(`ceph osd pool create ${input.name} exited 0 but the pool does not read back as created`);
        return { pool_id: got.id };
      });
    },

    /** `ceph osd pool set` and read back. */
    async setCephPool(input: {
      clusterId: string;
      name: string;
      key: 'size' | 'min_size' | 'pg_autoscale_mode';
      value: string;
    }): Promise<void> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        await ceph.setPool(input.name, input.key, input.value);
        const got = await readPool(input.clusterId, input.name);
        if (!got || String(got[input.key]) !== input.value) {
          throw new Error(
            `pool ${input.name} ${input.key} reads back as ${got ? String(got[input.key]) : 'missing'}, not ${input.value}`,
          );
        }
      });
    },

    async enablePoolApplication(input: { clusterId: string; name: string; application: string }): Promise<void> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        const before = await readPool(input.clusterId, input.name);
        if (!before?.applications.includes(input.application))
          await ceph.enableApplication(input.name, input.application);
        const got = await readPool(input.clusterId, input.name);
        if (!got?.applications.includes(input.application))
          throw new Error(`application ${input.application} not enabled on pool ${input.name}`);
      });
    },

    /** The pool as Ceph reports it, compared with what was asked for. */
    async verifyCephPool(input: {
      clusterId: string;
      name: string;
      size: number;
      minSize: number;
      application: string | null;
      autoscale: boolean;
    }): Promise<CephPool> {
      return guarded(async () => {
        const got = await readPool(input.clusterId, input.name);
        if (!got) throw permanent(FAILURE.invalidState, `Pool ${input.name} is not in the cluster.`);
        const wrong: string[] = [];
        if (got.size !== input.size) wrong.push(`size ${got.size} (want ${input.size})`);
        if (got.min_size !== input.minSize) wrong.push(`min_size ${got.min_size} (want ${input.minSize})`);
        if (input.application && !got.applications.includes(input.application))
          wrong.push(`applications ${got.applications.join(',') || 'none'}`);
        if ((got.pg_autoscale_mode === 'on') !== input.autoscale)
          wrong.push(`pg_autoscale_mode ${got.pg_autoscale_mode}`);
        if (wrong.length)
          throw permanent(FAILURE.invalidState, `Pool ${input.name} reads back with ${wrong.join(', ')}.`);
        return got;
      });
    },

    async setPoolRow(input: {
      poolId: string;
      status: Pool['status'];
      reason?: string | null;
      pgNum?: number;
    }): Promise<void> {
      await pools.updatePool(deps.db, input.poolId, {
        status: input.status,
        status_reason: input.reason ?? null,
        ...(input.pgNum !== undefined ? { pg_num: input.pgNum } : {}),
      });
    },

    /** A pool on a named profile: its size, min_size, k and m once the profile was read from Ceph. */
    async setPoolShape(input: { poolId: string; size: number; minSize: number; k: number; m: number }): Promise<void> {
      await pools.updatePool(deps.db, input.poolId, {
        size: input.size,
        min_size: input.minSize,
        k: input.k,
        m: input.m,
      });
    },

    /**
     * `ceph osd pool rm` (mon_allow_pool_delete only for the command, then put back as it was found),
     * then the pool must be gone. The value found is read once, by the first attempt, and kept in the
     * activity's heartbeat details: a retried attempt restores what was there before the first one,
     * not the `true` an interrupted attempt may have left.
     */
    async deleteCephPool(input: { clusterId: string; name: string }): Promise<void> {
      return guarded(async () => {
        const ctx = Context.current();
        const ceph = await cephFor(deps, input.clusterId);
        const recorded = ctx.info.heartbeatDetails as { flagBefore?: string | null } | undefined;
        let flagBefore = recorded?.flagBefore;
        if (flagBefore === undefined) {
          flagBefore = await ceph.poolDeleteFlag();
          ctx.heartbeat({ flagBefore });
        }
        await ceph.deletePool(input.name, flagBefore);
        if (await readPool(input.clusterId, input.name))
          throw new Error(`pool ${input.name} is still listed after ceph osd pool rm`);
      });
    },

    async deletePoolRow(input: { poolId: string }): Promise<void> {
      await pools.deletePool(deps.db, input.poolId);
    },
  };
}
