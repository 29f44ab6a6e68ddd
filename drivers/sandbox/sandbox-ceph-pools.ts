/**
 * Pools of the simulated Ceph, with the behaviour LAB.md measured on a real one: creating an
 * existing pool exits 0 and changes nothing (whatever the PG count asked), an erasure profile of the
 * same name with other k/m is EPERM, `size` on an erasure pool is ENOTSUP, a pool that would exceed
 * mon_max_pg_per_osd is ERANGE, setting `size` resets `min_size` to size − size/2. Every pool's PGs
 * count in the cluster's PG total (state.pg_num), so health and PG states include them.
 */
import { FAILURE } from '../../lib/failures';
import { DriverError, type CephErasureProfile, type CephPool, type CephPoolCreate, type CephPoolOps } from '../types';
import { crushRulesOf } from './sandbox-ceph-lifecycle';
import type { SandboxCephContext, SandboxCephPool, SandboxCephState } from './sandbox-ceph-state';

/** Ceph's mon_max_pg_per_osd default. */
export const MON_MAX_PG_PER_OSD = 250;

const fail = (message: string) => new DriverError(FAILURE.commandFailed, message, false);

function poolView(p: SandboxCephPool): CephPool {
  return { ...p, applications: [...p.applications] };
}

function findPool(s: SandboxCephState, name: string): SandboxCephPool {
  const p = (s.pools ?? []).find((x) => x.name === name);
  if (!p) throw fail(`Error ENOENT: unrecognized pool '${name}'`);
  return p;
}

export function createSandboxPoolOps(ctx: SandboxCephContext): CephPoolOps {
  return {
    async pools(): Promise<CephPool[]> {
      return ((await ctx.cephView()).state.pools ?? []).map(poolView);
    },

    async createPool(spec: CephPoolCreate): Promise<void> {
      const v = await ctx.cephView();
      const osdsIn = v.osds.filter((o) => o.in).length;
      await ctx.mutate((s) => {
        const pools = (s.pools ??= []);
        if (pools.some((p) => p.name === spec.name)) return; // "pool 'x' already exists", rc 0
        let size: number;
        let minSize: number;
        let ruleId: number;
        const rules = (s.crush_rules ??= crushRulesOf(s).map((r) => ({ ...r })));
        if (spec.type === 'erasure') {
          const profile = (s.erasure_profiles ?? []).find((p) => p.name === spec.erasure_profile);
          if (!profile)
            throw fail(`Error ENOENT: specified erasure code profile '${spec.erasure_profile ?? ''}' doesn't exist`);
          size = profile.k + profile.m;
          minSize = profile.k + Math.min(1, profile.m - 1);
          // Ceph makes a rule named after the pool from the profile's failure domain.
          ruleId = rules.find((r) => r.name === spec.name)?.id ?? Math.max(...rules.map((r) => r.id)) + 1;
          if (!rules.some((r) => r.id === ruleId))
            rules.push({ id: ruleId, name: spec.name, failure_domain: profile.failure_domain ?? 'host' });
        } else {
          // No rule named: osd_pool_default_crush_rule, as Ceph does.
          const rule =
            spec.crush_rule === null
              ? (rules.find((r) => r.id === (s.default_crush_rule ?? 0)) ?? rules[0])
              : rules.find((r) => r.name === spec.crush_rule);
          if (!rule) throw fail(`Error ENOENT: specified rule ${spec.crush_rule ?? ''} doesn't exist`);
          ruleId = rule.id;
          size = 3; // osd_pool_default_size
          minSize = 2;
        }
        const projected = pools.reduce((sum, p) => sum + p.pg_num * p.size, 0) + spec.pg_num * size;
        if (projected > MON_MAX_PG_PER_OSD * osdsIn) {
          throw fail(
            `Error ERANGE: pg_num ${spec.pg_num} size ${size} would mean ${projected} total pgs, which exceeds max ${MON_MAX_PG_PER_OSD * osdsIn} (mon_max_pg_per_osd ${MON_MAX_PG_PER_OSD} * num_in_osds ${osdsIn})`,
          );
        }
        pools.push({
          id: Math.max(0, ...pools.map((p) => p.id)) + 1,
          name: spec.name,
          type: spec.type,
          size,
          min_size: minSize,
          pg_num: spec.pg_num,
          crush_rule_id: ruleId,
          erasure_profile: spec.type === 'erasure' ? spec.erasure_profile : null,
          applications: [],
          pg_autoscale_mode: 'on',
        });
        s.pg_num += spec.pg_num;
      });
    },

    async setPool(
      name: string,
      key: 'size' | 'min_size' | 'pg_autoscale_mode' | 'crush_rule',
      value: string,
    ): Promise<void> {
      await ctx.cephView();
      await ctx.mutate((s) => {
        const p = findPool(s, name);
        if (key === 'crush_rule') {
          const rule = crushRulesOf(s).find((r) => r.name === value);
          if (!rule) throw fail(`Error ENOENT: crush rule ${value} does not exist`);
          if (p.type === 'erasure') throw fail('Error EINVAL: an erasure-coded pool keeps the rule of its profile');
          p.crush_rule_id = rule.id;
          return;
        }
        if (key === 'pg_autoscale_mode') {
          if (value !== 'on' && value !== 'off' && value !== 'warn')
            throw fail(`Error EINVAL: invalid pg_autoscale_mode '${value}'`);
          p.pg_autoscale_mode = value;
          return;
        }
        const n = Number(value);
        if (key === 'size') {
          if (p.type === 'erasure') throw fail('Error ENOTSUP: can not change the size of an erasure-coded pool');
          if (!Number.isInteger(n) || n < 1 || n > 10) throw fail(`Error EINVAL: pool size must be between 1 and 10`);
          p.size = n;
          p.min_size = n - Math.floor(n / 2);
        } else {
          if (!Number.isInteger(n) || n < 1 || n > p.size)
            throw fail(`Error EINVAL: pool min_size must be between 1 and size, which is set to ${p.size}`);
          p.min_size = n;
        }
      });
    },

    async enableApplication(name: string, application: string): Promise<void> {
      await ctx.cephView();
      await ctx.mutate((s) => {
        const p = findPool(s, name);
        if (p.applications.includes(application)) return;
        if (p.applications.length > 0) {
          throw fail(
            `Error EPERM: Are you SURE? Pool '${name}' already has an enabled application; pass --yes-i-really-mean-it to proceed anyway`,
          );
        }
        p.applications.push(application);
      });
    },

    async setErasureProfile(profile: CephErasureProfile): Promise<void> {
      await ctx.cephView();
      await ctx.mutate((s) => {
        const profiles = (s.erasure_profiles ??= []);
        const existing = profiles.find((p) => p.name === profile.name);
        if (existing) {
          if (
            existing.k !== profile.k ||
            existing.m !== profile.m ||
            existing.failure_domain !== profile.failure_domain
          ) {
            throw fail(
              `Error EPERM: will not override erasure code profile ${profile.name} because the existing profile is different from the proposed profile`,
            );
          }
          return;
        }
        profiles.push({ ...profile });
      });
    },

    async erasureProfile(name: string): Promise<CephErasureProfile | null> {
      const p = ((await ctx.cephView()).state.erasure_profiles ?? []).find((x) => x.name === name);
      return p ? { ...p } : null;
    },

    /** The sandbox does not model the mons' config database: never set there. */
    async poolDeleteFlag(): Promise<string | null> {
      await ctx.cephView();
      return null;
    },

    async deletePool(name: string): Promise<void> {
      await ctx.cephView();
      await ctx.mutate((s) => {
        const p = (s.pools ?? []).find((x) => x.name === name);
        if (!p) return; // "pool 'x' does not exist", rc 0
        s.pools = s.pools!.filter((x) => x !== p);
        s.pg_num = Math.max(0, s.pg_num - p.pg_num);
        // The rule Ceph made for an erasure pool stays, as in Ceph.
      });
    },
  };
}
