import type { ActivityDeps } from './deps';
import { cephFor } from './targets';
import { FAILURE, guarded, permanent, pollUntil } from './failures';
import { createLedger, hostSubject } from './change-ledger';

export function createCephActivities(deps: ActivityDeps) {
  const ledger = createLedger(deps);
  return {
    /** The OSD ids that live on a CRUSH host. */
    async hostOsds(input: { clusterId: string; host: string }): Promise<number[]> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        return (await ceph.osds())
          .filter((o) => o.host === input.host)
          .map((o) => o.id)
          .sort((a, b) => a - b);
      });
    },

    /** `ceph osd ok-to-stop`: fails with not_ok_to_stop (never retried) when stopping would make PGs inactive. */
    async assertOkToStop(input: { clusterId: string; osdIds: number[] }): Promise<void> {
      return guarded(async () => {
        if (input.osdIds.length === 0) return;
        const ceph = await cephFor(deps, input.clusterId);
        const answer = await ceph.okToStop(input.osdIds);
        if (!answer.ok) {
          throw permanent(
            FAILURE.notOkToStop,
            `Ceph says OSDs ${input.osdIds.map((i) => `osd.${i}`).join(', ')} are not ok to stop: ${answer.reason ?? 'PGs would become inactive'}.`,
          );
        }
      });
    },

    /** `ceph osd ok-to-stop` as a verdict, for plans (the real run uses assertOkToStop). */
    async checkOkToStop(input: {
      clusterId: string;
      osdIds: number[];
    }): Promise<{ ok: boolean; reason: string | null }> {
      return guarded(async () => {
        if (input.osdIds.length === 0) return { ok: true, reason: null };
        return (await cephFor(deps, input.clusterId)).okToStop(input.osdIds);
      });
    },

    /**
     * How many hosts from the front of a candidate batch may stop together: the largest k for which
     * `ceph osd ok-to-stop` accepts the union of the first k hosts' OSDs, with Ceph's reason for
     * refusing k + 1 (null when all may). One activity for the whole search, not one round trip per
     * try: ok-to-stop is monotone (fewer OSDs down never leaves a PG less available), so the full
     * batch is asked first, then a binary search asks ⌈log2 n⌉ more at most.
     */
    async okToStopPrefix(input: {
      clusterId: string;
      hosts: number[][];
    }): Promise<{ count: number; reason: string | null }> {
      return guarded(async () => {
        const n = input.hosts.length;
        const ceph = await cephFor(deps, input.clusterId);
        const ask = async (k: number) => {
          const osdIds = input.hosts.slice(0, k).flat();
          return osdIds.length === 0 ? { ok: true, reason: null } : ceph.okToStop(osdIds);
        };
        const all = await ask(n);
        if (all.ok) return { count: n, reason: null };
        let lo = 0;
        let hi = n;
        let reason = all.reason;
        while (hi - lo > 1) {
          const mid = Math.floor((lo + hi) / 2);
          const v = await ask(mid);
          if (v.ok) lo = mid;
          else {
            hi = mid;
            reason = v.reason;
          }
        }
        return { count: lo, reason };
      });
    },

    /**
     * Whether the host's CRUSH node carries noout right now. Read before setting it, in its own
     * activity: a retried "set" would otherwise find its own flag and take it for an operator's.
     */
    async hostHasNoout(input: { clusterId: string; host: string }): Promise<boolean> {
      return guarded(async () => (await (await cephFor(deps, input.clusterId)).nooutHosts()).includes(input.host));
    },

    /** Sets noout on the host's CRUSH node and reads it back: a flag we cannot see is not set. */
    async setHostNoout(input: { clusterId: string; host: string }): Promise<void> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        // Recorded before the change; a flag an operator had set already is noted and left to them.
        const wasSet = (await ceph.nooutHosts()).includes(input.host);
        await ledger.before('noout_host', hostSubject(input.clusterId, input.host), {
          cluster_id: input.clusterId,
          host: input.host,
          was_set_before: wasSet,
        });
        await ceph.setGroupNoout(input.host);
        if (!(await ceph.nooutHosts()).includes(input.host)) {
          throw permanent(FAILURE.nooutNotSet, `noout was set on ${input.host} but the cluster does not report it.`);
        }
      });
    },

    /** Unsets noout and reads it back. Idempotent: unsetting an absent flag is a no-op. */
    async unsetHostNoout(input: { clusterId: string; host: string }): Promise<void> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        await ceph.unsetGroupNoout(input.host);
        if ((await ceph.nooutHosts()).includes(input.host)) {
          throw new Error(`noout is still reported on ${input.host} after unsetting it`);
        }
        await ledger.undone('noout_host', hostSubject(input.clusterId, input.host));
      });
    },

    /** Stops the OSD daemons so the cluster marks them down cleanly, and waits until it has. */
    async stopOsds(input: { clusterId: string; host: string; osdIds: number[] }): Promise<void> {
      const ceph = await guarded(() => cephFor(deps, input.clusterId));
      await ledger.before('osds_stopped', hostSubject(input.clusterId, input.host), {
        cluster_id: input.clusterId,
        host: input.host,
        osd_ids: input.osdIds,
      });
      await guarded(() => ceph.stopOsds(input.host, input.osdIds));
      await pollUntil({
        intervalMs: deps.config.pollIntervalMs,
        timeoutMs: deps.config.waits.cephMs,
        timeoutType: FAILURE.osdsNotUp,
        what: `OSDs on ${input.host} to be marked down`,
        probe: async () => {
          const osds = (await ceph.osds()).filter((o) => input.osdIds.includes(o.id));
          return osds.every((o) => !o.up) ? true : undefined;
        },
      });
    },

    async startOsds(input: { clusterId: string; host: string; osdIds: number[] }): Promise<void> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        // The ledger entry closes when the OSDs are seen up (waitForOsdsUp), not when a start was sent.
        await ceph.startOsds(input.host, input.osdIds);
      });
    },

    /** Waits until every given OSD is up and in. */
    async waitForOsdsUp(input: { clusterId: string; osdIds: number[] }): Promise<void> {
      const ceph = await guarded(() => cephFor(deps, input.clusterId));
      let down: number[] = [];
      await pollUntil({
        intervalMs: deps.config.pollIntervalMs,
        timeoutMs: deps.config.waits.cephMs,
        timeoutType: FAILURE.osdsNotUp,
        what: `OSDs ${input.osdIds.map((i) => `osd.${i}`).join(', ')} to come up`,
        describe: () => ({ down }),
        probe: async () => {
          const osds = (await ceph.osds()).filter((o) => input.osdIds.includes(o.id));
          down = input.osdIds.filter((id) => !osds.some((o) => o.id === id && o.up));
          return down.length === 0 ? true : undefined;
        },
      });
      await ledger.undoneWhere(
        'osds_stopped',
        (d) =>
          d.cluster_id === input.clusterId &&
          Array.isArray(d.osd_ids) &&
          d.osd_ids.every((id) => input.osdIds.includes(id as number)),
      );
    },

    /**
     * Waits until every PG is active+clean. HEALTH_OK alone is not enough (LAB.md: it was reported
     * with OSDs down and every PG unknown), so this counts PG states and OSDs explicitly.
     */
    async waitForPgsClean(input: {
      clusterId: string;
      /**
       * OSDs that may stay down (those of hosts in maintenance an upgrade goes around): then every
       * other OSD up and every PG settled (active, nothing recovering or waiting to; undersized and
       * degraded allowed: the copies on those OSDs) is enough.
       */
      allowDown?: number[];
    }): Promise<{ pgs: number }> {
      const ceph = await guarded(() => cephFor(deps, input.clusterId));
      let last = '';
      const allowDown = input.allowDown ?? [];
      if (allowDown.length > 0) {
        return pollUntil({
          intervalMs: deps.config.pollIntervalMs,
          timeoutMs: deps.config.waits.cephMs,
          timeoutType: FAILURE.pgsNotClean,
          what: `all PGs to be active with nothing recovering (osd ${allowDown.join(', ')} may stay down)`,
          describe: () => last,
          probe: async () => {
            const s = await ceph.status();
            const down = (await ceph.osds()).filter((o) => !o.up && !allowDown.includes(o.id)).map((o) => o.id);
            const settled = s.pgs_settled ?? s.pgs_active_clean;
            last = `${settled}/${s.pgs_total} PGs settled (${s.pgs_active_clean} active+clean), down besides those allowed: ${down.length ? down.map((i) => `osd.${i}`).join(', ') : 'none'}`;
            return s.pgs_total > 0 && settled === s.pgs_total && down.length === 0 ? { pgs: s.pgs_total } : undefined;
          },
        });
      }
      return pollUntil({
        intervalMs: deps.config.pollIntervalMs,
        timeoutMs: deps.config.waits.cephMs,
        timeoutType: FAILURE.pgsNotClean,
        what: 'all PGs to be active+clean',
        describe: () => last,
        probe: async () => {
          const s = await ceph.status();
          last = `${s.pgs_active_clean}/${s.pgs_total} PGs active+clean, ${s.osds_up}/${s.osds_total} OSDs up`;
          const clean = s.pgs_total > 0 && s.pgs_active_clean === s.pgs_total && s.osds_up === s.osds_total;
          return clean ? { pgs: s.pgs_total } : undefined;
        },
      });
    },
  };
}
