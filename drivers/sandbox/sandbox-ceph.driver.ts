/**
 * A simulated Ceph cluster per sandbox cluster, stored as one jsonb document in sandbox_ceph.
 *
 * Only intent is stored (which OSDs exist where, weights, noout flags, when a daemon was stopped or
 * started); everything that depends on time — which OSDs are up, monitor quorum, PG states, health —
 * is derived on each call from the stored state and the hosts' machines (sandbox_machines) at "now".
 * So a host that is powered off takes its OSDs down, and they come back once it has booted, with
 * no timers and nothing lost when a worker restarts.
 *
 * PGs are placed CRUSH-like (sandbox-ceph-reweight.ts): each pool's PGs have `size` replicas in
 * distinct failure domains of the pool's rule (hosts, racks or zones). A PG is degraded while an OSD
 * of its acting set is down, inactive when fewer than its pool's min_size of them are up, and
 * recovering for a while after they come back; ok-to-stop asks the same of the OSDs to stop.
 */
import { createHash } from 'node:crypto';
import type { Db, SandboxMachine } from '../../db/database';
import { json } from '../../db/database';
import { FAILURE } from '../../lib/failures';
import { createSandboxLifecycleOps } from './sandbox-ceph-lifecycle';
import { createSandboxPoolOps } from './sandbox-ceph-pools';
import { createSandboxReweightOps, CRUSH_ITEM_NONE, derivePlacement, domainNameOf, type PgPlacementView } from './sandbox-ceph-reweight';
import { createSandboxUpgradeOps, type SandboxUpgradeState } from './sandbox-ceph-upgrade';
import {
  DriverError,
  type CephCoreOps,
  type CephDriver,
  type CephPool,
  type CephHealth,
  type CephOsd,
  type CephStatus,
  type CephTarget,
  type CrushFailureDomain,
  type OkToStop,
} from '../types';
import {
  clockOf,
  findByBmc,
  faultSince,
  findByIp,
  machineCondition,
  SandboxInputError,
  type MachineCondition,
  type SandboxClock,
} from './sandbox-machines';

/** Nominal delays at speed 1, in ms. */
export const NOMINAL_RECOVERY_DELAY_MS = 5_000;
/** Ceph's mon_osd_down_out_interval: a down OSD is marked out after this, unless noout. */
export const NOMINAL_DOWN_OUT_INTERVAL_MS = 600_000;

export interface SandboxCephHost {
  hostname: string;
  ipmi_address: string;
  /** CRUSH location above the host (failure domains rack/zone), when set by the lifecycle ops. */
  rack?: string | null;
  zone?: string | null;
}

/** A pool of the simulated cluster (lifecycle/pool ops): what `pools()` reports. Its pg_num is included in state.pg_num. */
export type SandboxCephPool = CephPool;

export interface SandboxCephOsd {
  id: number;
  host: string;
  device: string;
  device_class: 'nvme' | 'ssd' | 'hdd';
  /** TiB of the device, as `ceph osd tree` shows it. */
  crush_weight: number;
  reweight: number;
  /** `systemctl stop ceph-osd@N` time; the daemon stays down until started or the host reboots. */
  stopped_at: string | null;
  started_at: string | null;
}

export interface SandboxCephState {
  version: 1;
  account_id: string;
  cluster_id: string;
  fsid: string;
  ceph_version: string;
  size: number;
  min_size: number;
  pg_num: number;
  recovery_delay_ms: number;
  down_out_interval_ms: number;
  hosts: SandboxCephHost[];
  mons: string[];
  mgrs: string[];
  osds: SandboxCephOsd[];
  noout_hosts: string[];
  created_at: string;
  /** Daemon versions, active mgr, noautoscale and the upgrade event log (sandbox-ceph-upgrade.ts). */
  upgrade?: SandboxUpgradeState;
  /** Cluster-level injected faults, name → when set (e.g. health_err: the cluster reports HEALTH_ERR). */
  cluster_faults?: Record<string, string>;
  /**
   * Pools, CRUSH rules and erasure-code profiles (sandbox-ceph-pools/-lifecycle). Absent on
   * clusters made whole by createSandboxCephCluster; pg_num stays the cluster's PG total.
   */
  pools?: SandboxCephPool[];
  crush_rules?: { id: number; name: string; failure_domain: string }[];
  erasure_profiles?: { name: string; k: number; m: number; failure_domain: string | null }[];
  /** `osd_pool_default_crush_rule`: the rule of pools created without one (and of the implicit pool); absent = rule 0. */
  default_crush_rule?: number;
}

export interface CreateSandboxCephInput {
  accountId: string;
  clusterId: string;
  /** In order: OSD ids are assigned host by host, device by device, from 0; mons go on the first hosts. */
  hosts: { hostname: string; ipmiAddress: string; osdDevices: string[]; rack?: string | null; zone?: string | null }[];
  replication: number;
  /**
   * Failure domain of the cluster's rule (default host): with rack or zone, the hosts sit under
   * their rack/zone buckets, a rule `nf-replicated-<domain>` is made the default rule, and every PG
   * places its replicas in distinct racks/zones. Every host needs the label.
   */
  failureDomain?: CrushFailureDomain;
  minSize: number;
  cephVersion: string;
}

/**
 * Creates the simulated Ceph of a sandbox cluster (what `cephadm bootstrap` + OSD creation would
 * leave). Idempotent: if the cluster exists it is returned unchanged. `speed` scales the recovery
 * delay and the down→out interval, stored scaled like the machines' delays.
 */
export async function createSandboxCephCluster(
  db: Db,
  input: CreateSandboxCephInput,
  speed = 1,
  clock?: SandboxClock,
): Promise<SandboxCephState> {
  if (!Number.isFinite(speed) || speed < 0) throw new SandboxInputError(`speed must be a number ≥ 0, got ${speed}`);
  const { replication: size, minSize } = input;
  if (!Number.isInteger(size) || size < 1 || size > 10) throw new SandboxInputError(`replication must be 1..10, got ${size}`);
  if (!Number.isInteger(minSize) || minSize < 1 || minSize > size) {
    throw new SandboxInputError(`minSize must be 1..${size}, got ${minSize}`);
  }
  if (input.hosts.length < size) {
    throw new SandboxInputError(`replication ${size} needs at least ${size} hosts, got ${input.hosts.length}`);
  }
  const names = input.hosts.map((h) => h.hostname);
  if (new Set(names).size !== names.length) throw new SandboxInputError('host names must be distinct');
  const fd = input.failureDomain ?? 'host';
  if (fd !== 'host') {
    const unlabelled = input.hosts.filter((h) => !h[fd]);
    if (unlabelled.length) throw new SandboxInputError(`failure domain ${fd}: ${unlabelled.map((h) => h.hostname).join(', ')} without a ${fd}`);
    const domains = new Set(input.hosts.map((h) => h[fd])).size;
    if (domains < size) throw new SandboxInputError(`replication ${size} needs at least ${size} ${fd}s, got ${domains}`);
  }

  const existing = await getSandboxCephState(db, input.clusterId);
  if (existing) return sameAccount(existing, input.accountId);

  const osds: SandboxCephOsd[] = [];
  for (const host of input.hosts) {
    const m = await findByBmc(db, input.accountId, host.ipmiAddress);
    if (!m) throw new SandboxInputError(`no sandbox machine with BMC ${host.ipmiAddress}`);
    for (const device of host.osdDevices) {
      const drive = m.drives.find((d) => d.device === device);
      if (!drive) throw new SandboxInputError(`${host.hostname} has no drive ${device}`);
      osds.push({
        id: osds.length,
        host: host.hostname,
        device,
        device_class: drive.type,
        // ceph-volume sets the CRUSH weight to the device size in TiB.
        crush_weight: Math.round(((drive.size_gb * 1e9) / 2 ** 40) * 1e5) / 1e5,
        reweight: 1,
        stopped_at: null,
        started_at: null,
      });
    }
  }
  if (osds.length === 0) throw new SandboxInputError('a cluster needs at least one OSD device');
  const state: SandboxCephState = {
    version: 1,
    account_id: input.accountId,
    cluster_id: input.clusterId,
    fsid: uuidFrom(input.clusterId),
    ceph_version: input.cephVersion,
    size,
    min_size: minSize,
    // ~100 PGs per OSD, a power of two (what the autoscaler converges to).
    pg_num: 2 ** Math.max(0, Math.round(Math.log2((osds.length * 100) / size))),
    recovery_delay_ms: Math.round(NOMINAL_RECOVERY_DELAY_MS * speed),
    down_out_interval_ms: Math.round(NOMINAL_DOWN_OUT_INTERVAL_MS * speed),
    hosts: input.hosts.map((h) => ({
      hostname: h.hostname,
      ipmi_address: h.ipmiAddress,
      ...(h.rack || h.zone ? { rack: h.rack ?? null, zone: h.zone ?? null } : {}),
    })),
    mons: names.slice(0, names.length >= 5 ? 5 : 3),
    mgrs: names.slice(0, 2),
    osds,
    noout_hosts: [],
    created_at: new Date(clockOf(clock)()).toISOString(),
    ...(fd === 'host'
      ? {}
      : {
          crush_rules: [
            { id: 0, name: 'replicated_rule', failure_domain: 'host' },
            { id: 1, name: `nf-replicated-${fd}`, failure_domain: fd },
          ],
          default_crush_rule: 1,
        }),
  };
  await db
    .insertInto('sandbox_ceph')
    .values({ cluster_id: input.clusterId, state: json(state) })
    .onConflict((oc) => oc.column('cluster_id').doNothing())
    .execute();
  // A concurrent creation may have won the insert: return what is stored.
  return sameAccount((await getSandboxCephState(db, input.clusterId))!, input.accountId);
}

/** The stored (intent) state of a simulated cluster, or null. */
export async function getSandboxCephState(db: Db, clusterId: string): Promise<SandboxCephState | null> {
  const row = await db.selectFrom('sandbox_ceph').select('state').where('cluster_id', '=', clusterId).executeTakeFirst();
  return row ? (row.state as SandboxCephState) : null;
}

/**
 * Test helper: the OSD id now lives on another host and device, as after an operator destroyed it
 * and recreated it with the same id elsewhere (`ceph osd destroy` + `ceph-volume lvm create
 * --osd-id`). Throws when the cluster, the OSD or the host is unknown, or the device holds an OSD.
 */
export async function moveSandboxOsd(db: Db, clusterId: string, osdId: number, to: { host: string; device: string }): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('sandbox_ceph').select('state').where('cluster_id', '=', clusterId).forUpdate().executeTakeFirst();
    if (!row) throw new SandboxInputError(`no sandbox Ceph cluster ${clusterId}`);
    const state = row.state as SandboxCephState;
    const osd = state.osds.find((o) => o.id === osdId);
    if (!osd) throw new SandboxInputError(`no osd.${osdId} in ${clusterId}`);
    if (!state.hosts.some((h) => h.hostname === to.host)) throw new SandboxInputError(`${to.host} is not a host of ${clusterId}`);
    const taken = state.osds.find((o) => o.host === to.host && o.device === to.device);
    if (taken) throw new SandboxInputError(`${to.host}:${to.device} holds osd.${taken.id}`);
    osd.host = to.host;
    osd.device = to.device;
    await trx.updateTable('sandbox_ceph').set({ state: json(state), updated_at: new Date() }).where('cluster_id', '=', clusterId).execute();
  });
}

/** Removes a simulated cluster (cluster deletion); true when there was one. */
export async function removeSandboxCephCluster(db: Db, clusterId: string): Promise<boolean> {
  const res = await db.deleteFrom('sandbox_ceph').where('cluster_id', '=', clusterId).executeTakeFirst();
  return res.numDeletedRows > 0n;
}

function sameAccount(state: SandboxCephState, accountId: string): SandboxCephState {
  if (state.account_id !== accountId) throw new SandboxInputError(`cluster ${state.cluster_id} belongs to another account`);
  return state;
}

// ---- The driver -------------------------------------------------------------------------------------

export function createSandboxCephDriver(db: Db, accountId: string, target: CephTarget, clock?: SandboxClock): CephDriver {
  const now = clockOf(clock);

  async function load(): Promise<{ state: SandboxCephState; machines: Map<string, SandboxMachine> }> {
    const state = await getSandboxCephState(db, target.clusterId);
    if (!state || state.account_id !== accountId) {
      throw new DriverError(FAILURE.cephUnavailable, `no Ceph cluster ${target.clusterId} in this sandbox`, false);
    }
    const rows = await db
      .selectFrom('sandbox_machines')
      .selectAll()
      .where('account_id', '=', accountId)
      .where(
        'ipmi_address',
        'in',
        state.hosts.map((h) => h.ipmi_address),
      )
      .execute();
    const byBmc = new Map(rows.map((m) => [m.ipmi_address, m]));
    const machines = new Map<string, SandboxMachine>();
    for (const h of state.hosts) {
      const m = byBmc.get(h.ipmi_address);
      if (m) machines.set(h.hostname, m);
    }
    return { state, machines };
  }

  /** The `ceph` CLI runs on the admin node over SSH: it must be up, and the monitors in quorum. */
  async function cephView(): Promise<ClusterView> {
    const t = now();
    const admin = await findByIp(db, accountId, target.admin.host);
    if (!admin || !machineCondition(admin, t).running) {
      throw new DriverError(FAILURE.sshUnreachable, `ssh ${target.admin.host}: admin node unreachable`, true);
    }
    const { state, machines } = await load();
    const v = deriveView(state, machines, t);
    if (v.monsInQuorum.length <= state.mons.length / 2) {
      throw new DriverError(
        FAILURE.cephUnavailable,
        `[errno 110] RADOS timed out (error connecting to the cluster): ${v.monsInQuorum.length}/${state.mons.length} mons up`,
        true,
      );
    }
    return v;
  }

  async function mutate(fn: (s: SandboxCephState, t: number) => void): Promise<void> {
    await db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('sandbox_ceph').select('state').where('cluster_id', '=', target.clusterId).forUpdate().executeTakeFirst();
      if (!row) throw new DriverError(FAILURE.cephUnavailable, `no Ceph cluster ${target.clusterId} in this sandbox`, false);
      const state = row.state as SandboxCephState;
      fn(state, now());
      await trx.updateTable('sandbox_ceph').set({ state: json(state), updated_at: new Date() }).where('cluster_id', '=', target.clusterId).execute();
    });
  }

  function hostOf(state: SandboxCephState, host: string): SandboxCephHost {
    const h = state.hosts.find((x) => x.hostname === host);
    if (!h) throw new DriverError(FAILURE.commandFailed, `Error ENOENT: unable to find host '${host}' in the CRUSH map`, false);
    return h;
  }

  /** systemctl on the OSD host itself, over SSH: the host must be up. */
  async function onHost(
    host: string,
    osdIds: number[],
    apply: (osd: SandboxCephOsd, at: string, bootedAt: number) => void,
  ): Promise<void> {
    const { state, machines } = await load();
    hostOf(state, host);
    const m = machines.get(host);
    const c = m ? machineCondition(m, now()) : null;
    if (!c?.running || !c.bootedAt) throw new DriverError(FAILURE.sshUnreachable, `ssh ${host}: host unreachable`, true);
    const bootedAt = c.bootedAt.getTime();
    for (const id of osdIds) {
      if (!state.osds.some((o) => o.id === id && o.host === host)) {
        throw new DriverError(FAILURE.commandFailed, `Unit ceph-osd@${id}.service not loaded on ${host}.`, false);
      }
    }
    await mutate((s, at) => {
      for (const o of s.osds) if (osdIds.includes(o.id)) apply(o, new Date(at).toISOString(), bootedAt);
    });
  }

  const ctx: SandboxCephContext = { db, accountId, target, now, load, cephView, mutate, hostOf, onHost };
  const core: CephCoreOps = {
    async status(): Promise<CephStatus> {
      return statusOf(await cephView());
    },

    async osds(): Promise<CephOsd[]> {
      const v = await cephView();
      return v.osds.map((o) => ({
        id: o.osd.id,
        host: o.osd.host,
        up: o.up,
        in: o.in,
        crush_weight: o.osd.crush_weight,
        reweight: o.in ? o.osd.reweight : 0,
        pgs: o.pgs,
        device_class: o.osd.device_class,
        device: o.osd.device,
      }));
    },

    async okToStop(osdIds: number[]): Promise<OkToStop> {
      const v = await cephView();
      if (osdIds.length === 0) return { ok: true, reason: null };
      for (const id of osdIds) {
        if (!v.state.osds.some((o) => o.id === id)) throw new DriverError(FAILURE.commandFailed, `Error ENOENT: osd.${id} does not exist`, false);
      }
      return okToStopOf(v, osdIds);
    },

    async setGroupNoout(host: string): Promise<void> {
      const v = await cephView();
      hostOf(v.state, host);
      await mutate((s) => {
        if (!s.noout_hosts.includes(host)) s.noout_hosts.push(host);
      });
    },

    async unsetGroupNoout(host: string): Promise<void> {
      const v = await cephView();
      hostOf(v.state, host);
      await mutate((s) => {
        s.noout_hosts = s.noout_hosts.filter((h) => h !== host);
      });
    },

    async nooutHosts(): Promise<string[]> {
      return [...(await cephView()).state.noout_hosts].sort();
    },

    async stopOsds(host: string, osdIds: number[]): Promise<void> {
      await onHost(host, osdIds, (o, at) => {
        o.stopped_at = at;
        o.started_at = null;
      });
    },

    async startOsds(host: string, osdIds: number[]): Promise<void> {
      // Starting a running unit is a no-op (no restart, so no recovery). A daemon stopped before
      // the last boot is running already: systemd started it. With `osds_stay_down` the start is
      // accepted and the daemon still never comes up.
      await onHost(host, osdIds, (o, at, bootedAt) => {
        const stopped = o.stopped_at !== null && Date.parse(o.stopped_at) >= bootedAt;
        o.stopped_at = null;
        if (stopped) o.started_at = at;
      });
    },
  };
  return {
    ...core,
    ...createSandboxLifecycleOps(ctx),
    ...createSandboxPoolOps(ctx),
    ...createSandboxReweightOps(ctx),
    ...createSandboxUpgradeOps(ctx),
  };
}

/** What the per-concern sandbox modules build on: the stored state, the derived view, one way to change it. */
export interface SandboxCephContext {
  db: Db;
  accountId: string;
  target: CephTarget;
  now: () => number;
  /** The stored state and the cluster's machines, without the admin-node and quorum checks. */
  load(): Promise<{ state: SandboxCephState; machines: Map<string, SandboxMachine> }>;
  /** What `ceph` on the admin node sees; throws as the CLI would when the admin node or quorum is gone. */
  cephView(): Promise<ClusterView>;
  /** Changes the stored state in one short transaction (row lock on the cluster's document). */
  mutate(fn: (s: SandboxCephState, t: number) => void): Promise<void>;
  hostOf(state: SandboxCephState, host: string): SandboxCephHost;
  /** systemctl-like action on OSDs of a host, which must be up (SSH). */
  onHost(host: string, osdIds: number[], apply: (osd: SandboxCephOsd, at: string, bootedAt: number) => void): Promise<void>;
}

// ---- Derivation (pure) ------------------------------------------------------------------------------

interface OsdView {
  osd: SandboxCephOsd;
  up: boolean;
  in: boolean;
  pgs: number;
  /** Since when the daemon has been up (recovery runs for recovery_delay_ms after this). */
  upSince: number | null;
}

export interface ClusterView {
  state: SandboxCephState;
  osds: OsdView[];
  monsInQuorum: string[];
  mgrAvailable: boolean;
  /** Failure domains (hosts) holding data. */
  domains: number;
  pgStates: { state: string; count: number }[];
  /** Where PGs are and where CRUSH wants them (backfill, stuck drains). */
  placement: PgPlacementView;
}

export function deriveView(state: SandboxCephState, machines: Map<string, SandboxMachine>, now: number): ClusterView {
  const conditions = new Map<string, MachineCondition>();
  for (const [host, m] of machines) conditions.set(host, machineCondition(m, now));
  const running = (host: string) => conditions.get(host)?.running === true;

  const osds: OsdView[] = state.osds.map((osd) => {
    const m = machines.get(osd.host);
    const c = conditions.get(osd.host);
    let up = false;
    let upSince: number | null = null;
    let downSince = Date.parse(state.created_at);
    if (m && c && c.running && c.bootedAt) {
      const booted = c.bootedAt.getTime();
      // Stopped after the last boot: still down. Stopped before it: systemd started it at boot.
      const stopped = osd.stopped_at !== null && Date.parse(osd.stopped_at) >= booted;
      const started = Math.max(booted, osd.started_at ? Date.parse(osd.started_at) : 0);
      // osds_stay_down: a daemon that (re)started after the fault was set never comes up.
      const stayDown = faultSince(m, 'osds_stay_down');
      if (stopped) downSince = Date.parse(osd.stopped_at!);
      else if (stayDown !== null && started > stayDown) downSince = started;
      else {
        up = true;
        upSince = started;
      }
    } else if (c) {
      downSince = (c.shutdownStartedAt ?? c.since).getTime();
    }
    // mon_osd_down_out_interval: down long enough without noout → marked out.
    const isIn = up || state.noout_hosts.includes(osd.host) || now - downSince < state.down_out_interval_ms;
    return { osd, up, in: isIn, pgs: 0, upSince };
  });

  // PGs are placed by CRUSH weight across failure domains (sandbox-ceph-reweight.ts); an OSD holds
  // the PGs it is in the up or acting set of, so a drained OSD keeps PGs until backfill moved them.
  const weightOf = (o: OsdView) => (o.in ? o.osd.crush_weight * o.osd.reweight : 0);
  const inOsd = new Map(osds.map((o) => [o.osd.id, o.in]));
  const placement = derivePlacement(state, (id) => inOsd.get(id) === true, now);
  for (const o of osds) o.pgs = placement.pgsByOsd.get(o.osd.id) ?? 0;

  const dataHosts = new Set(osds.filter((o) => weightOf(o) > 0).map((o) => o.osd.host));
  const domains = dataHosts.size;
  const pgStates = pgStatesOf(state, osds, domains, now, placement);

  return {
    state,
    osds,
    monsInQuorum: state.mons.filter(running),
    mgrAvailable: state.mgrs.some(running),
    domains,
    pgStates,
    placement,
  };
}

function pgStatesOf(state: SandboxCephState, osds: OsdView[], domains: number, now: number, placement: PgPlacementView) {
  const n = state.pg_num;
  const counts = new Map<string, number>();
  const add = (s: string, c: number) => {
    if (c > 0) counts.set(s, (counts.get(s) ?? 0) + c);
  };
  const result = () => [...counts].map(([state, count]) => ({ state, count }));
  if (domains === 0) {
    // Every OSD out: nothing serves any PG.
    add('stale+undersized+degraded+peered', n);
    return result();
  }
  const down = new Set(osds.filter((o) => !o.up).map((o) => o.osd.id));
  if (down.size > 0) {
    // PG by PG, from where its data is: inactive below its pool's min_size, degraded with any copy down.
    const { inactive, degraded } = countDown(placement, down);
    if (inactive + degraded > 0) {
      add('undersized+degraded+peered', inactive);
      add('active+undersized+degraded', degraded);
      add('active+clean', n - inactive - degraded);
      return result();
    }
  }
  // After OSDs come back, the PGs they hold recover for recovery_delay_ms, shrinking linearly. OSDs
  // that were already up when the cluster was created hold freshly created, clean PGs.
  const delay = state.recovery_delay_ms;
  const created = Date.parse(state.created_at);
  const recent = osds.filter((o) => o.upSince !== null && o.upSince > created && now - o.upSince < delay);
  let recovering = 0;
  if (recent.length > 0) {
    const ids = new Set(recent.map((o) => o.osd.id));
    const remaining = Math.max(...recent.map((o) => (o.upSince! + delay - now) / delay));
    let touched = 0;
    for (const set of placement.acting) if (set.some((o) => ids.has(o))) touched += 1;
    recovering = Math.min(n, Math.ceil(touched * remaining));
  }
  add('active+recovering+degraded', recovering);
  // Misplaced PGs after a CRUSH weight change: a few backfill at a time (osd_max_backfills), the
  // rest wait; those CRUSH cannot place stay served where they are, remapped for good.
  const left = n - recovering;
  const stuck = Math.min(left, placement.stuck);
  const moving = Math.min(left - stuck, placement.remapped);
  const backfilling = Math.min(moving, Math.max(1, osds.length));
  add('active+remapped+backfilling', backfilling);
  add('active+remapped+backfill_wait', moving - backfilling);
  add('active+clean+remapped', stuck);
  add('active+clean', left - stuck - moving);
  return result();
}

/** PGs with fewer than their pool's min_size copies outside `down` (inactive), and with some copy in it (degraded). */
function countDown(placement: PgPlacementView, down: ReadonlySet<number>): { inactive: number; degraded: number } {
  let inactive = 0;
  let degraded = 0;
  let i = 0;
  for (const pool of placement.pools) {
    for (let ps = 0; ps < pool.pg_num; ps++, i++) {
      let live = 0;
      let lost = 0;
      for (const o of placement.acting[i]!) {
        if (o === CRUSH_ITEM_NONE) continue;
        if (down.has(o)) lost += 1;
        else live += 1;
      }
      if (lost === 0) continue;
      if (live < pool.min_size) inactive += 1;
      else degraded += 1;
    }
  }
  return { inactive, degraded };
}

/**
 * `ceph osd ok-to-stop`: no when stopping these OSDs (with those already down) would leave a PG
 * below its pool's min_size, counted PG by PG from the acting sets as Ceph's mgr does. The sandbox
 * is stricter than Ceph in one way: it also says no when the down OSDs holding data would span more
 * failure domains of a pool's rule than its size − min_size, even where no PG happens to have that
 * many copies there, so that the answer (and an upgrade's batches) never depends on how PGs hashed.
 */
export function okToStopOf(v: ClusterView, osdIds: number[]): OkToStop {
  const stopping = new Set(osdIds);
  const down = new Set(v.osds.filter((o) => !o.up).map((o) => o.osd.id));
  for (const id of stopping) down.add(id);
  const { inactive } = countDown(v.placement, down);
  if (inactive > 0) return { ok: false, reason: `unsafe to stop osd(s) at this time (${inactive} PGs are or would become offline)` };
  // A down OSD that holds no data (out, or at CRUSH weight 0 and drained) costs no failure domain.
  const holding = v.osds.filter((o) => down.has(o.osd.id) && (o.pgs > 0 || (stopping.has(o.osd.id) && o.in && o.osd.crush_weight > 0)));
  for (const pool of v.placement.pools) {
    const spanned = new Set(holding.map((o) => domainNameOf(v.state, pool.failure_domain, o.osd.host, o.osd.id)));
    if (spanned.size > pool.size - pool.min_size) {
      return {
        ok: false,
        reason: `unsafe to stop osd(s) at this time (they span ${spanned.size} ${pool.failure_domain}s; pool ${pool.id} keeps ${pool.size} copies in distinct ${pool.failure_domain}s and needs ${pool.min_size})`,
      };
    }
  }
  return { ok: true, reason: null };
}

export function statusOf(v: ClusterView): CephStatus {
  const osdsUp = v.osds.filter((o) => o.up).length;
  const osdsIn = v.osds.filter((o) => o.in).length;
  const clean = v.pgStates.find((p) => p.state === 'active+clean')?.count ?? 0;
  const flags = v.state.noout_hosts.length > 0 ? ['noout'] : [];
  const warn =
    osdsUp < v.osds.length ||
    osdsIn < v.osds.length ||
    clean < v.state.pg_num ||
    flags.length > 0 ||
    v.monsInQuorum.length < v.state.mons.length ||
    !v.mgrAvailable;
  const health: CephHealth = v.state.cluster_faults?.health_err ? 'HEALTH_ERR' : warn ? 'HEALTH_WARN' : 'HEALTH_OK';
  return {
    health,
    osds_total: v.osds.length,
    osds_up: osdsUp,
    osds_in: osdsIn,
    pgs_total: v.state.pg_num,
    pgs_active_clean: clean,
    mgr_available: v.mgrAvailable,
    mons_in_quorum: v.monsInQuorum,
    mons_total: v.state.mons.length,
    flags,
  };
}

function uuidFrom(seed: string): string {
  const h = createHash('sha256').update(`nodefoundry-sandbox-fsid:${seed}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
