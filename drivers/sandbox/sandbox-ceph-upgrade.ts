/**
 * CephUpgradeOps of the simulated Ceph: per-daemon versions (what `ceph versions` and `ceph <type>
 * metadata` report), the active mgr and failover, mon ok-to-stop, the noautoscale flag, and host
 * upgrades that take simulated time and take the host's OSDs down and up again.
 *
 * As everywhere in the sandbox, nothing runs on a timer: a redeploy or host upgrade stores when it
 * finishes, reads derive the state at "now", and the next call after that moment applies it. The
 * durations are the nominal ones scaled by the cluster's speed (stored as the scaled recovery delay).
 *
 * Every upgrade step is recorded in `state.upgrade.events`, and the hosts stopped for an upgrade
 * and not yet started again in `down_hosts` with a high-water mark, so tests can assert "every host
 * upgraded exactly once" and "never more than N hosts down at once".
 */
import type { Db, SandboxMachine } from '../../db/database';
import { json } from '../../db/database';
import {
  isTentacleOrLater,
  majorOf,
  parseCephVersion,
  sandboxVersionString,
  type CephRelease,
} from '../../lib/ceph-releases';
import { FAILURE } from '../../lib/failures';
import {
  DriverError,
  type CephDaemonVersion,
  type CephHealthCheck,
  type CephMgrMap,
  type CephUpgradeOps,
  type CephUpgradeSpec,
  type CephVersionCounts,
  type OkToStop,
} from '../types';
import {
  NOMINAL_RECOVERY_DELAY_MS,
  type SandboxCephContext,
  type SandboxCephState,
  type SandboxUpgradeEvent,
  type SandboxUpgradeState,
} from './sandbox-ceph-state';
import { clockOf, machineCondition, SandboxInputError, type SandboxClock } from './sandbox-machines';

export type { SandboxUpgradeEvent, SandboxUpgradeEventKind, SandboxUpgradeState } from './sandbox-ceph-state';

/** Nominal durations at speed 1, in ms. */
export const NOMINAL_DAEMON_REDEPLOY_MS = 4_000;
export const NOMINAL_HOST_UPGRADE_MS = 20_000;

export function emptyUpgradeState(): SandboxUpgradeState {
  return {
    versions: {},
    pending: {},
    active_mgr: null,
    noautoscale: false,
    events: [],
    down_hosts: [],
    max_down_hosts: 0,
  };
}

/** The upgrade part of a stored state (older documents have none). */
export function upgradeStateOf(state: SandboxCephState): SandboxUpgradeState {
  return { ...emptyUpgradeState(), ...(state.upgrade ?? {}) };
}

/** The version string a daemon runs at `now`, a redeploy that has finished (but is not yet recorded) included. */
function versionAt(state: SandboxCephState, key: string, now: number): string {
  // Read in place (not through upgradeStateOf, which copies): this runs for every daemon on every
  // health check, 4,000+ times a call on a Pawsey-size cluster.
  const u = state.upgrade;
  const p = u?.pending?.[key];
  if (p && Date.parse(p.ready_at) <= now) return p.version;
  return u?.versions?.[key] ?? createdVersionString(state.ceph_version);
}

const createdVersionCache = new Map<string, string>();
/** sandboxVersionString, memoised by the cluster's created version. */
function createdVersionString(cephVersion: string): string {
  let v = createdVersionCache.get(cephVersion);
  if (v === undefined) {
    v = sandboxVersionString(cephVersion);
    if (createdVersionCache.size > 256) createdVersionCache.clear();
    createdVersionCache.set(cephVersion, v);
  }
  return v;
}

/** The release of a version string, memoised (a cluster runs a handful of distinct strings). */
const releaseCache = new Map<string, CephRelease | null>();
function releaseOfVersion(text: string): CephRelease | null {
  let r = releaseCache.get(text);
  if (r === undefined) {
    r = parseCephVersion(text)?.release ?? null;
    if (releaseCache.size > 256) releaseCache.clear();
    releaseCache.set(text, r);
  }
  return r;
}

function daemonKeys(state: SandboxCephState): { type: 'mon' | 'mgr' | 'osd'; id: string; host: string; key: string }[] {
  return [
    ...state.mons.map((h) => ({ type: 'mon' as const, id: h, host: h, key: `mon.${h}` })),
    ...state.mgrs.map((h) => ({ type: 'mgr' as const, id: h, host: h, key: `mgr.${h}` })),
    ...state.osds.map((o) => ({ type: 'osd' as const, id: String(o.id), host: o.host, key: `osd.${o.id}` })),
  ];
}

/** The release `require_osd_release` names: set by the upgrade's last step, else the created release. */
export function requireOsdReleaseOf(state: SandboxCephState): CephRelease | null {
  return parseCephVersion(upgradeStateOf(state).require_osd_release ?? state.ceph_version)?.release ?? null;
}

function keyTypeOf(state: SandboxCephState): 'aes' | 'aes256k' {
  const set = upgradeStateOf(state).cephx_key_type;
  if (set) return set;
  const created = parseCephVersion(state.ceph_version)?.release;
  return created && isTentacleOrLater(created) ? 'aes256k' : 'aes';
}

/**
 * The release-dependent health checks the simulated cluster raises at `now`, as the real one does
 * (samples in the reef-tentacle spike): from its first Tentacle daemon while the keys are "aes", the
 * AUTH_INSECURE_* checks (two of them ERR, so HEALTH_ERR); once every OSD runs a release newer than
 * require_osd_release, OSD_UPGRADE_FINISHED (WARN) until `ceph osd require-osd-release` catches up.
 */
export function releaseHealthChecks(state: SandboxCephState, now: number): CephHealthCheck[] {
  // Without pending redeploys nothing here depends on the time: a frozen (read) document gets the
  // same answer on every call, so it is worked out once (4,000+ daemons on a Pawsey-size cluster).
  const timeless = Object.isFrozen(state) && Object.keys(state.upgrade?.pending ?? {}).length === 0;
  if (timeless) {
    let checks = releaseChecksCache.get(state);
    if (!checks) releaseChecksCache.set(state, (checks = releaseHealthChecksAt(state, now)));
    return checks.map((c) => ({ ...c }));
  }
  return releaseHealthChecksAt(state, now);
}

const releaseChecksCache = new WeakMap<SandboxCephState, CephHealthCheck[]>();

function releaseHealthChecksAt(state: SandboxCephState, now: number): CephHealthCheck[] {
  const running = daemonKeys(state).map((d) => ({
    ...d,
    release: releaseOfVersion(versionAt(state, d.key, now)),
  }));
  const checks: CephHealthCheck[] = [];
  if (keyTypeOf(state) === 'aes' && running.some((d) => d.release && isTentacleOrLater(d.release))) {
    const services = running.filter((d) => d.type !== 'mon').length;
    checks.push(
      {
        code: 'AUTH_INSECURE_CLIENT_KEY_TYPE',
        severity: 'HEALTH_WARN',
        summary: '7 auth client entities with insecure key types',
      },
      {
        code: 'AUTH_INSECURE_KEYS_ALLOWED',
        severity: 'HEALTH_WARN',
        summary: 'Monitors are configured to allow auth using insecure key types',
      },
      {
        code: 'AUTH_INSECURE_KEYS_CREATABLE',
        severity: 'HEALTH_WARN',
        summary: 'Monitors are configured to allow creation of insecure key types',
      },
      {
        code: 'AUTH_INSECURE_ROTATING_SERVICE_KEY_TYPE',
        severity: 'HEALTH_WARN',
        summary: '4 rotating auth service keys using insecure key types',
      },
      {
        code: 'AUTH_INSECURE_SERVICE_KEY_TYPE',
        severity: 'HEALTH_ERR',
        summary: `${services} auth service entities with insecure key types`,
      },
      {
        code: 'AUTH_INSECURE_SERVICE_TICKETS',
        severity: 'HEALTH_ERR',
        summary: 'Monitors are configured to issue insecure service tickets',
      },
    );
  }
  const osds = running.filter((d) => d.type === 'osd');
  const required = requireOsdReleaseOf(state);
  if (required && osds.length > 0 && osds.every((d) => d.release && majorOf(d.release) > majorOf(required))) {
    const oldest = osds.map((d) => d.release!).reduce((a, b) => (majorOf(a) <= majorOf(b) ? a : b));
    checks.push({
      code: 'OSD_UPGRADE_FINISHED',
      severity: 'HEALTH_WARN',
      summary: `all OSDs are running ${oldest} or later but require_osd_release < ${oldest}`,
    });
  }
  return checks;
}

/** Speed factor of the cluster, recovered from its stored (scaled) recovery delay. */
function speedOf(state: SandboxCephState): number {
  return state.recovery_delay_ms / NOMINAL_RECOVERY_DELAY_MS;
}

function activeMgr(state: SandboxCephState, running: (h: string) => boolean): string | null {
  const chosen = upgradeStateOf(state).active_mgr;
  if (chosen && state.mgrs.includes(chosen) && running(chosen)) return chosen;
  // The active mgr's host went away: a running standby took over, as the mon would make it.
  return state.mgrs.find(running) ?? null;
}

export function createSandboxUpgradeOps(ctx: SandboxCephContext): CephUpgradeOps {
  const runningIn = (machines: Map<string, SandboxMachine>, t: number) => (h: string) => {
    const m = machines.get(h);
    return m ? machineCondition(m, t).running : false;
  };

  /** A command on the host itself (systemctl, apt) needs the host up, as SSH does. */
  async function assertHostUp(host: string): Promise<void> {
    const { state, machines } = await ctx.load();
    ctx.hostOf(state, host);
    if (!runningIn(machines, ctx.now())(host))
      throw new DriverError(FAILURE.sshUnreachable, `ssh ${host}: host unreachable`, true);
  }

  /** Applies finished pending work for `key` (once, with its event); answers whether none is left. */
  function settle(
    u: SandboxUpgradeState,
    key: string,
    t: number,
    event: Omit<SandboxUpgradeEvent, 'at' | 'version'>,
    apply: (version: string) => void,
  ): boolean {
    const p = u.pending[key];
    if (!p) return true;
    if (Date.parse(p.ready_at) > t) return false;
    apply(p.version);
    delete u.pending[key];
    u.events.push({ at: new Date(t).toISOString(), ...event, version: p.version });
    return true;
  }

  return {
    async versions(): Promise<CephVersionCounts> {
      const v = await ctx.cephView();
      const t = ctx.now();
      const { machines } = await ctx.load();
      const running = runningIn(machines, t);
      const up = new Set(v.osds.filter((o) => o.up).map((o) => o.osd.id));
      const out: CephVersionCounts = { mon: {}, mgr: {}, osd: {}, overall: {} };
      for (const d of daemonKeys(v.state)) {
        // Like `ceph versions`: daemons that are not running report nothing.
        if (d.type === 'osd' ? !up.has(Number(d.id)) : !running(d.host)) continue;
        const ver = versionAt(v.state, d.key, t);
        out[d.type][ver] = (out[d.type][ver] ?? 0) + 1;
        out.overall[ver] = (out.overall[ver] ?? 0) + 1;
      }
      return out;
    },

    async daemonVersions(): Promise<CephDaemonVersion[]> {
      const v = await ctx.cephView();
      const t = ctx.now();
      return daemonKeys(v.state).map((d) => {
        const text = versionAt(v.state, d.key, t);
        const p = parseCephVersion(text);
        return { type: d.type, id: d.id, host: d.host, version: p?.version ?? text, release: p?.release ?? 'unknown' };
      });
    },

    async mgrMap(): Promise<CephMgrMap> {
      const v = await ctx.cephView();
      const { machines } = await ctx.load();
      const running = runningIn(machines, ctx.now());
      const active = activeMgr(v.state, running);
      return { active, standbys: v.state.mgrs.filter((h) => h !== active && running(h)), available: active !== null };
    },

    async failMgr(): Promise<void> {
      await ctx.cephView();
      const { machines } = await ctx.load();
      const running = runningIn(machines, ctx.now());
      await ctx.mutate((s, t) => {
        const u = upgradeStateOf(s);
        const active = activeMgr(s, running);
        const next = s.mgrs.find((h) => h !== active && running(h));
        // With no standby, Ceph restarts the same mgr: it stays active.
        if (!next) return;
        u.active_mgr = next;
        u.events.push({ at: new Date(t).toISOString(), kind: 'mgr_failover', host: next, daemon: `mgr.${next}` });
        s.upgrade = u;
      });
    },

    async monOkToStop(host: string): Promise<OkToStop> {
      const v = await ctx.cephView();
      if (!v.state.mons.includes(host))
        throw new DriverError(FAILURE.commandFailed, `Error ENOENT: mon.${host} does not exist`, false);
      const remaining = v.monsInQuorum.filter((m) => m !== host).length;
      if (remaining > v.state.mons.length / 2) return { ok: true, reason: null };
      return {
        ok: false,
        reason: `stopping mon.${host} would leave ${remaining}/${v.state.mons.length} mons: quorum would be lost`,
      };
    },

    async setNoAutoscale(on: boolean): Promise<void> {
      await ctx.cephView();
      await ctx.mutate((s, t) => {
        const u = upgradeStateOf(s);
        if (u.noautoscale === on) return;
        u.noautoscale = on;
        u.events.push({
          at: new Date(t).toISOString(),
          kind: on ? 'autoscale_frozen' : 'autoscale_released',
          host: null,
        });
        s.upgrade = u;
      });
    },

    async noAutoscale(): Promise<boolean> {
      return upgradeStateOf((await ctx.cephView()).state).noautoscale;
    },

    async redeployDaemon(type: 'mon' | 'mgr', host: string, spec: CephUpgradeSpec): Promise<{ done: boolean }> {
      const v = await ctx.cephView();
      if (!(type === 'mon' ? v.state.mons : v.state.mgrs).includes(host)) {
        throw new DriverError(FAILURE.commandFailed, `Error ENOENT: no ${type} daemon on ${host}`, false);
      }
      await assertHostUp(host);
      const key = `${type}.${host}`;
      let done = false;
      await ctx.mutate((s, t) => {
        const u = upgradeStateOf(s);
        s.upgrade = u;
        if (!u.pending[key]) {
          const current = versionAt(s, key, t);
          const target = spec.mode === 'restart' ? current : sandboxVersionString(spec.version);
          if (spec.mode === 'upgrade' && current === target) {
            done = true;
            return;
          }
          u.pending[key] = {
            version: target,
            ready_at: new Date(t + NOMINAL_DAEMON_REDEPLOY_MS * speedOf(s)).toISOString(),
          };
        }
        done = settle(u, key, t, { kind: 'daemon_redeployed', host, daemon: key }, (ver) => (u.versions[key] = ver));
      });
      return { done };
    },

    async stopHostOsds(host: string, osdIds: number[]): Promise<void> {
      await ctx.onHost(host, osdIds, (o, at) => {
        o.stopped_at = at;
        o.started_at = null;
      });
      await ctx.mutate((s, t) => {
        const u = upgradeStateOf(s);
        if (u.down_hosts.includes(host)) return;
        u.down_hosts.push(host);
        u.max_down_hosts = Math.max(u.max_down_hosts, u.down_hosts.length);
        u.events.push({ at: new Date(t).toISOString(), kind: 'host_down', host });
        s.upgrade = u;
      });
    },

    async upgradeHost(host: string, spec: CephUpgradeSpec): Promise<{ done: boolean; rebootRequired: boolean }> {
      await assertHostUp(host);
      const key = `host:${host}`;
      let done = false;
      await ctx.mutate((s, t) => {
        const u = upgradeStateOf(s);
        const osdKeys = s.osds.filter((o) => o.host === host).map((o) => `osd.${o.id}`);
        const applyTo = (ver: string) => {
          for (const k of osdKeys) u.versions[k] = ver;
        };
        s.upgrade = u;
        if (!u.pending[key]) {
          const target = sandboxVersionString(spec.version);
          if (spec.mode === 'upgrade' && !spec.osPackages && osdKeys.every((k) => versionAt(s, k, t) === target)) {
            done = true;
            return;
          }
          const version =
            spec.mode === 'restart'
              ? osdKeys[0]
                ? versionAt(s, osdKeys[0], t)
                : sandboxVersionString(s.ceph_version)
              : target;
          u.pending[key] = { version, ready_at: new Date(t + NOMINAL_HOST_UPGRADE_MS * speedOf(s)).toISOString() };
        }
        done = settle(u, key, t, { kind: 'host_upgraded', host }, applyTo);
      });
      // New OS packages (a kernel among them) need a reboot; a Ceph-only upgrade does not.
      return { done, rebootRequired: spec.osPackages };
    },

    async requireOsdRelease(release: string): Promise<{ release: string }> {
      const v = await ctx.cephView();
      const t = ctx.now();
      const wanted = parseCephVersion(release)?.release;
      if (!wanted) throw new DriverError(FAILURE.commandFailed, `Error EINVAL: unknown release ${release}`, false);
      const current = requireOsdReleaseOf(v.state);
      if (current && majorOf(wanted) < majorOf(current))
        throw new DriverError(
          FAILURE.commandFailed,
          `Error EPERM: require_osd_release cannot be lowered once it has been set (${current})`,
          false,
        );
      // Like the mon: every up OSD must run the release (its features) first.
      const behind = v.osds.filter((o) => {
        const r = parseCephVersion(versionAt(v.state, `osd.${o.osd.id}`, t))?.release;
        return o.up && (!r || majorOf(r) < majorOf(wanted));
      });
      if (behind.length > 0)
        throw new DriverError(
          FAILURE.commandFailed,
          `Error EPERM: not all up OSDs have CEPH_FEATURE_SERVER_${wanted.toUpperCase()} feature (osd.${behind.map((o) => o.osd.id).join(', osd.')})`,
          false,
        );
      await ctx.mutate((s, at) => {
        const u = upgradeStateOf(s);
        if (u.require_osd_release === wanted) return;
        u.require_osd_release = wanted;
        u.events.push({ at: new Date(at).toISOString(), kind: 'require_osd_release', host: null, version: wanted });
        s.upgrade = u;
      });
      return { release: wanted };
    },

    async startHostOsds(host: string, osdIds: number[]): Promise<void> {
      await ctx.onHost(host, osdIds, (o, at, bootedAt) => {
        const stopped = o.stopped_at !== null && Date.parse(o.stopped_at) >= bootedAt;
        o.stopped_at = null;
        if (stopped) o.started_at = at;
      });
      await ctx.mutate((s, t) => {
        const u = upgradeStateOf(s);
        if (!u.down_hosts.includes(host)) return;
        u.down_hosts = u.down_hosts.filter((h) => h !== host);
        u.events.push({ at: new Date(t).toISOString(), kind: 'host_up', host });
        s.upgrade = u;
      });
    },
  };
}

// ---- Cluster-level faults (PUT /v1/sandbox/clusters/{id}/faults) ----------------------------------

export const SANDBOX_CLUSTER_FAULTS = [
  /** The cluster reports HEALTH_ERR (as with a full OSD or a damaged PG) until the fault is cleared. */
  'health_err',
] as const;
export type SandboxClusterFault = (typeof SANDBOX_CLUSTER_FAULTS)[number];

/**
 * Replaces the cluster's active faults (name → on/off). Each remembers when it was set; faults that
 * stay set keep their time. Null when the account has no such simulated cluster.
 */
export async function setSandboxClusterFaults(
  db: Db,
  accountId: string,
  clusterId: string,
  faults: Readonly<Partial<Record<SandboxClusterFault, boolean>>>,
  clock?: SandboxClock,
): Promise<SandboxClusterFault[] | null> {
  const unknown = Object.keys(faults).filter((f) => !(SANDBOX_CLUSTER_FAULTS as readonly string[]).includes(f));
  if (unknown.length > 0) {
    throw new SandboxInputError(
      `unknown cluster fault(s): ${unknown.join(', ')} (known: ${SANDBOX_CLUSTER_FAULTS.join(', ')})`,
    );
  }
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('sandbox_ceph')
      .select('state')
      .where('cluster_id', '=', clusterId)
      .forUpdate()
      .executeTakeFirst();
    const state = row?.state as SandboxCephState | undefined;
    if (!state || state.account_id !== accountId) return null;
    const at = new Date(clockOf(clock)()).toISOString();
    const before = state.cluster_faults ?? {};
    state.cluster_faults = Object.fromEntries(
      SANDBOX_CLUSTER_FAULTS.filter((f) => faults[f] === true).map((f) => [f, before[f] ?? at]),
    );
    await trx
      .updateTable('sandbox_ceph')
      .set({ state: json(state), updated_at: new Date() })
      .where('cluster_id', '=', clusterId)
      .execute();
    return Object.keys(state.cluster_faults) as SandboxClusterFault[];
  });
}
