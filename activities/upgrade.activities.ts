import { Context } from '@temporalio/activity';
import type { ActivityDeps } from './deps';
import { getClusterById, recordClusterVersion } from '../db/repositories/clusters.repository';
import { clusterMemberSummaries } from '../db/repositories/nodes.repository';
import { setOperationPaused } from '../db/repositories/operations.repository';
import type { CephUpgradeOps, CephUpgradeSpec } from '../drivers/types';
import { parseCephVersion, satisfiesTarget } from '../lib/ceph-releases';
import {
  blockingErrChecks,
  describeChecks,
  summariseDaemonVersions,
  type UpgradeFacts,
  type UpgradeHostFacts,
  type UpgradeMode,
} from '../lib/plans/upgrade-cluster.planner';
import { cephFor } from './targets';
import { FAILURE, guarded, permanent, pollUntil } from './failures';
import { createLedger, hostSubject } from './change-ledger';

interface DaemonTarget {
  clusterId: string;
  targetVersion: string;
  mode: UpgradeMode;
}

/**
 * The freeze step of an upgrade. A freeze found in place belongs to someone else (changed: false,
 * left alone at the end) unless an earlier attempt of this same activity began it (`resumed`, from
 * its heartbeat): then the attempt died part-way or its reply was lost, and this one completes that
 * freeze (setNoAutoscale(true) is idempotent and keeps the modes recorded first) and still owns it.
 */
export async function freezeAutoscaleOnce(
  ceph: Pick<CephUpgradeOps, 'noAutoscale' | 'setNoAutoscale'>,
  resumed: boolean,
  markStarted: () => unknown,
): Promise<{ changed: boolean }> {
  if (!resumed && (await ceph.noAutoscale())) return { changed: false };
  await markStarted();
  await ceph.setNoAutoscale(true);
  if (!(await ceph.noAutoscale())) throw new Error('PG autoscaling was frozen but the cluster does not report it');
  return { changed: true };
}

const natural = new Intl.Collator('en', { numeric: true });

export function createUpgradeActivities(deps: ActivityDeps) {
  const ledger = createLedger(deps);
  const specOf = (i: { targetVersion: string; mode: UpgradeMode; osPackages?: boolean }): CephUpgradeSpec => ({
    version: i.targetVersion,
    mode: i.mode,
    osPackages: i.osPackages ?? false,
  });

  return {
    /** Reads everything the upgrade planner decides on: health, quorum, mgrs, hosts, daemon versions. */
    async describeUpgrade(input: { clusterId: string }): Promise<UpgradeFacts> {
      return guarded(async () => {
        const cluster = await getClusterById(deps.db, input.clusterId);
        if (!cluster) throw permanent(FAILURE.cephUnavailable, `Cluster ${input.clusterId} does not exist.`);
        const ceph = await cephFor(deps, input.clusterId);
        // Independent reads, side by side: over SSH each is a session and a ceph CLI start, and a
        // dry run's client is waiting (planRead bounds the whole activity).
        const [status, osds, daemons, mgr, noAutoscale, nooutHosts, members] = await Promise.all([
          ceph.status(),
          ceph.osds(),
          ceph.daemonVersions(),
          ceph.mgrMap(),
          ceph.noAutoscale(),
          ceph.nooutHosts(),
          clusterMemberSummaries(deps.db, input.clusterId),
        ]);
        const mons = daemons.filter((d) => d.type === 'mon').map((d) => d.host);
        const mgrs = daemons.filter((d) => d.type === 'mgr').map((d) => d.host);
        const names = new Set([...members.map((m) => m.hostname), ...osds.map((o) => o.host), ...mons, ...mgrs]);
        const hosts = [...names].sort(natural.compare).map((hostname): UpgradeHostFacts => {
          const node = members.find((m) => m.hostname === hostname);
          const own = osds.filter((o) => o.host === hostname).sort((a, b) => a.id - b.id);
          return {
            hostname,
            nodeId: node?.id ?? null,
            nodeStatus: node?.status ?? null,
            held: node?.held ?? false,
            osdIds: own.map((o) => o.id),
            osdsDown: own.filter((o) => !o.up).map((o) => o.id),
            mon: mons.includes(hostname),
            mgr: mgrs.includes(hostname),
          };
        });
        return {
          clusterId: input.clusterId,
          cephVersion: cluster.ceph_version,
          health: status.health,
          checks: status.checks,
          mons,
          monsInQuorum: status.mons_in_quorum,
          mgrActive: mgr.active,
          mgrStandbys: mgr.standbys,
          hosts,
          daemons: summariseDaemonVersions(daemons),
          noAutoscale,
          nooutHosts,
        };
      });
    },

    /**
     * A safe point's gate: the upgrade never starts new work on a HEALTH_ERR cluster. The checks an
     * upgrade to `targetVersion` raises as a matter of course (Tentacle's AUTH_INSECURE_* and
     * OSD_UPGRADE_FINISHED; lib/ceph-releases.ts isExpectedUpgradeCheck) do not count; the refusal
     * names the ERR checks that stopped it. Without a target (older histories) any HEALTH_ERR stops.
     */
    async assertNotHealthErr(input: { clusterId: string; targetVersion?: string }): Promise<void> {
      return guarded(async () => {
        const s = await (await cephFor(deps, input.clusterId)).status();
        const target = input.targetVersion ? (parseCephVersion(input.targetVersion)?.release ?? null) : null;
        const blocking = blockingErrChecks(s.health, s.checks, target);
        if (blocking.length > 0) {
          throw permanent(
            FAILURE.healthErr,
            `The cluster reports HEALTH_ERR (${describeChecks(blocking)}); no new daemon or host is touched until it is resolved.`,
          );
        }
      });
    },

    /**
     * The upgrade's last step (upgrade mode, after the last OSD host): every mon, mgr and OSD must
     * report the target (`ceph <type> metadata`; `ceph versions` agrees for the running ones), else
     * it fails naming the daemons behind, and require-osd-release is left alone (an OSD still on
     * the old release could not boot after it). Then `ceph osd require-osd-release <release>`, read
     * back. Idempotent.
     */
    async finishUpgrade(input: {
      clusterId: string;
      targetVersion: string;
    }): Promise<{ requireOsdRelease: string; daemons: number; version: string; authInsecureChecks: string[] }> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        const target = parseCephVersion(input.targetVersion);
        if (!target) throw permanent(FAILURE.unknownVersion, `Unknown Ceph version ${input.targetVersion}.`);
        const daemons = await ceph.daemonVersions();
        const counts = await ceph.versions();
        const behind = daemons.filter((d) => {
          const p = parseCephVersion(d.version);
          return !p || !satisfiesTarget(p, target);
        });
        const running = Object.keys(counts.overall).filter((v) => {
          const p = parseCephVersion(v);
          return !p || !satisfiesTarget(p, target);
        });
        if (behind.length > 0 || running.length > 0) {
          const named = behind.map((d) => `${d.type}.${d.id} on ${d.host} runs ${d.version}`);
          if (named.length === 0) named.push(`ceph versions still counts ${running.join(', ')}`);
          throw permanent(
            FAILURE.upgradeNotApplied,
            `Not every daemon runs ${input.targetVersion}: ${named.join('; ')}. require-osd-release was not set.`,
          );
        }
        const set = await ceph.requireOsdRelease(target.release);
        const versions = [...new Set(daemons.map((d) => d.version))];
        // What the operator is left with: Tentacle's AUTH_INSECURE_* while the keys are the old type.
        const authInsecureChecks = (await ceph.status()).checks
          .map((c) => c.code)
          .filter((c) => c.startsWith('AUTH_INSECURE_'));
        return {
          requireOsdRelease: set.release,
          daemons: daemons.length,
          version: versions.join(', '),
          authInsecureChecks,
        };
      });
    },

    /** Freezes PG autoscaling; answers whether this call froze it (an operator's own freeze is left alone at the end). */
    async freezeAutoscale(input: { clusterId: string }): Promise<{ changed: boolean }> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        const ctx = Context.current();
        return freezeAutoscaleOnce(
          ceph,
          (ctx.info.heartbeatDetails as { freezing?: boolean } | undefined)?.freezing === true,
          async () => {
            await ledger.before('autoscale_frozen', input.clusterId, { cluster_id: input.clusterId });
            ctx.heartbeat({ freezing: true });
          },
        );
      });
    },

    /** Unsets noautoscale and reads it back. Idempotent. */
    async releaseAutoscale(input: { clusterId: string }): Promise<void> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        await ceph.setNoAutoscale(false);
        if (await ceph.noAutoscale()) throw new Error('noautoscale is still reported after unsetting it');
        await ledger.undone('autoscale_frozen', input.clusterId);
      });
    },

    /**
     * Upgrades (or restarts) one mon or mgr daemon and waits until it runs the target; a mon also
     * until it is back in quorum. A mon is only touched when `ceph mon ok-to-stop` agrees.
     */
    async redeployCephDaemon(
      input: DaemonTarget & { type: 'mon' | 'mgr'; host: string },
    ): Promise<{ version: string }> {
      const ceph = await guarded(() => cephFor(deps, input.clusterId));
      if (input.type === 'mon') {
        const verdict = await guarded(() => ceph.monOkToStop(input.host));
        if (!verdict.ok)
          throw permanent(FAILURE.monNotOkToStop, `ceph mon ok-to-stop ${input.host}: ${verdict.reason ?? 'no'}.`);
      }
      const target = parseCephVersion(input.targetVersion);
      let state = 'redeploying';
      // Redeployed once per attempt: after the driver says done (packages in, daemon restarted),
      // only the version and quorum are polled. Calling it again would restart a mon that is
      // still rejoining quorum, again and again (and rerun apt for every poll in upgrade mode).
      let redeployed = false;
      return pollUntil({
        intervalMs: deps.config.pollIntervalMs,
        timeoutMs: deps.config.waits.cephMs,
        timeoutType: FAILURE.upgradeNotApplied,
        what: `${input.type}.${input.host} to run ${input.targetVersion}${input.type === 'mon' ? ' and rejoin quorum' : ''}`,
        describe: () => state,
        probe: async () => {
          if (!redeployed) {
            const r = await ceph.redeployDaemon(input.type, input.host, specOf(input));
            if (!r.done) return undefined;
            redeployed = true;
            state = 'restarted';
          }
          const d = (await ceph.daemonVersions()).find((x) => x.type === input.type && x.host === input.host);
          const running = d ? parseCephVersion(d.version) : null;
          state = `running ${d?.version ?? 'unknown'}`;
          if (input.mode === 'upgrade' && (!running || !target || !satisfiesTarget(running, target))) return undefined;
          if (input.type === 'mon') {
            const s = await ceph.status();
            if (!s.mons_in_quorum.includes(input.host)) {
              state = 'out of quorum';
              return undefined;
            }
          }
          return { version: d?.version ?? input.targetVersion };
        },
      });
    },

    /** `ceph mon ok-to-stop`: before a mon host reboots, the other mons must keep quorum. */
    async assertMonOkToStop(input: { clusterId: string; host: string }): Promise<void> {
      return guarded(async () => {
        const verdict = await (await cephFor(deps, input.clusterId)).monOkToStop(input.host);
        if (!verdict.ok)
          throw permanent(FAILURE.monNotOkToStop, `ceph mon ok-to-stop ${input.host}: ${verdict.reason ?? 'no'}.`);
      });
    },

    /** `ceph mgr fail`, then waits until another mgr is active and available. Idempotent by `from`. */
    async failOverMgr(input: { clusterId: string; from: string }): Promise<{ active: string }> {
      const ceph = await guarded(() => cephFor(deps, input.clusterId));
      const before = await guarded(() => ceph.mgrMap());
      if (before.active === input.from) await guarded(() => ceph.failMgr());
      return pollUntil({
        intervalMs: deps.config.pollIntervalMs,
        timeoutMs: deps.config.waits.cephMs,
        timeoutType: FAILURE.cephUnavailable,
        what: `a standby mgr to take over from ${input.from}`,
        probe: async () => {
          const m = await ceph.mgrMap();
          return m.available && m.active && m.active !== input.from ? { active: m.active } : undefined;
        },
      });
    },

    /** Stops the host's OSDs for its upgrade and waits until the cluster marks them down. */
    async stopOsdsForUpgrade(input: { clusterId: string; host: string; osdIds: number[] }): Promise<void> {
      const ceph = await guarded(() => cephFor(deps, input.clusterId));
      await ledger.before('osds_stopped', hostSubject(input.clusterId, input.host), {
        cluster_id: input.clusterId,
        host: input.host,
        osd_ids: input.osdIds,
        upgrade: true,
      });
      await guarded(() => ceph.stopHostOsds(input.host, input.osdIds));
      await pollUntil({
        intervalMs: deps.config.pollIntervalMs,
        timeoutMs: deps.config.waits.cephMs,
        timeoutType: FAILURE.osdsNotUp,
        what: `OSDs on ${input.host} to be marked down`,
        probe: async () =>
          (await ceph.osds()).filter((o) => input.osdIds.includes(o.id)).every((o) => !o.up) ? true : undefined,
      });
    },

    /** Installs the target packages on the host (OS packages too when asked); waits until done. */
    async upgradeHostPackages(
      input: DaemonTarget & { host: string; osPackages: boolean },
    ): Promise<{ rebootRequired: boolean }> {
      const ceph = await guarded(() => cephFor(deps, input.clusterId));
      return pollUntil({
        intervalMs: deps.config.pollIntervalMs,
        timeoutMs: deps.config.waits.cephMs,
        timeoutType: FAILURE.upgradeNotApplied,
        what: `packages on ${input.host} to be upgraded`,
        probe: async () => {
          const r = await ceph.upgradeHost(input.host, specOf(input));
          return r.done ? { rebootRequired: r.rebootRequired } : undefined;
        },
      });
    },

    async startOsdsAfterUpgrade(input: { clusterId: string; host: string; osdIds: number[] }): Promise<void> {
      // The ledger entry closes when the OSDs are seen up (waitForOsdsUp), not when a start was sent.
      return guarded(async () => (await cephFor(deps, input.clusterId)).startHostOsds(input.host, input.osdIds));
    },

    /** The host's OSDs run the target (upgrade mode); a host that did not take the upgrade fails here. */
    async verifyHostVersion(input: DaemonTarget & { host: string }): Promise<{ versions: string[] }> {
      return guarded(async () => {
        const daemons = (await (await cephFor(deps, input.clusterId)).daemonVersions()).filter(
          (d) => d.type === 'osd' && d.host === input.host,
        );
        const versions = [...new Set(daemons.map((d) => d.version))].sort();
        const target = parseCephVersion(input.targetVersion);
        if (input.mode === 'upgrade' && target) {
          const behind = daemons.filter((d) => {
            const p = parseCephVersion(d.version);
            return !p || !satisfiesTarget(p, target);
          });
          if (behind.length > 0) {
            throw permanent(
              FAILURE.upgradeNotApplied,
              `${input.host}: ${behind.map((d) => `osd.${d.id}`).join(', ')} still run ${[...new Set(behind.map((d) => d.version))].join(', ')}, not ${input.targetVersion}.`,
            );
          }
        }
        return { versions };
      });
    },

    /** Unsets noout on those of `hosts` that carry it (cancel: leave nothing flagged). */
    async clearHostNoout(input: { clusterId: string; hosts: string[] }): Promise<{ cleared: string[] }> {
      return guarded(async () => {
        const ceph = await cephFor(deps, input.clusterId);
        const flagged = (await ceph.nooutHosts()).filter((h) => input.hosts.includes(h));
        for (const h of flagged) await ceph.unsetGroupNoout(h);
        const left = (await ceph.nooutHosts()).filter((h) => input.hosts.includes(h));
        if (left.length > 0) throw new Error(`noout is still reported on ${left.join(', ')}`);
        for (const h of input.hosts) await ledger.undone('noout_host', hostSubject(input.clusterId, h));
        return { cleared: flagged };
      });
    },

    /** Moves a running operation's row between in_progress and paused, so lists and filters see pauses. */
    async setOperationPaused(input: { operationId: string; paused: boolean }): Promise<void> {
      await setOperationPaused(deps.db, input.operationId, input.paused);
    },

    /** Records the release the cluster now runs. */
    async recordClusterVersion(input: { clusterId: string; cephVersion: string }): Promise<void> {
      await recordClusterVersion(deps.db, input.clusterId, input.cephVersion);
    },
  };
}
