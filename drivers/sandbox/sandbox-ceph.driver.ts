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
import type { Db, SandboxMachine } from '../../db/database';
import { json } from '../../db/database';
import { sql } from 'kysely';
import { FAILURE } from '../../lib/failures';
import { isSettledPgState } from '../../lib/pg-states';
import { createSandboxLifecycleOps } from './sandbox-ceph-lifecycle';
import { createSandboxPoolOps } from './sandbox-ceph-pools';
import {
  createSandboxReweightOps,
  CRUSH_ITEM_NONE,
  derivePlacement,
  domainNameOf,
  type PgPlacementView,
} from './sandbox-ceph-reweight';
import { createSandboxUpgradeOps, releaseHealthChecks } from './sandbox-ceph-upgrade';
import { usageOf } from './sandbox-ceph-usage';
import {
  DriverError,
  type CephCoreOps,
  type CephDriver,
  type CephHealth,
  type CephHealthCheck,
  type CephOsd,
  type CephStatus,
  type CephTarget,
  type OkToStop,
} from '../types';
import {
  clockOf,
  faultSince,
  findByIp,
  machineCondition,
  type MachineCondition,
  type SandboxClock,
} from './sandbox-machines';
import {
  lockSandboxCephState,
  readSandboxCephState,
  type ClusterView,
  type OsdView,
  type SandboxCephContext,
  type SandboxCephHost,
  type SandboxCephOsd,
  type SandboxCephState,
} from './sandbox-ceph-state';

export * from './sandbox-ceph-state';

// ---- The driver -------------------------------------------------------------------------------------

export function createSandboxCephDriver(
  db: Db,
  accountId: string,
  target: CephTarget,
  clock?: SandboxClock,
): CephDriver {
  const now = clockOf(clock);

  async function load(): Promise<{ state: SandboxCephState; machines: Map<string, SandboxMachine> }> {
    const state = await readSandboxCephState(db, target.clusterId);
    if (!state || state.account_id !== accountId) {
      throw new DriverError(FAILURE.cephUnavailable, `no Ceph cluster ${target.clusterId} in this sandbox`, false);
    }
    const rows = await machinesOf(
      db,
      accountId,
      state.hosts.map((h) => h.ipmi_address),
    );
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
      const state = await lockSandboxCephState(trx, target.clusterId);
      if (!state)
        throw new DriverError(FAILURE.cephUnavailable, `no Ceph cluster ${target.clusterId} in this sandbox`, false);
      fn(state, now());
      await trx
        .updateTable('sandbox_ceph')
        .set({ state: json(state), updated_at: new Date() })
        .where('cluster_id', '=', target.clusterId)
        .execute();
    });
  }

  function hostOf(state: SandboxCephState, host: string): SandboxCephHost {
    const h = state.hosts.find((x) => x.hostname === host);
    if (!h)
      throw new DriverError(
        FAILURE.commandFailed,
        `Error ENOENT: unable to find host '${host}' in the CRUSH map`,
        false,
      );
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
    if (!c?.running || !c.bootedAt)
      throw new DriverError(FAILURE.sshUnreachable, `ssh ${host}: host unreachable`, true);
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
      return statusOf(await cephView(), now());
    },

    async osds(): Promise<CephOsd[]> {
      const v = await cephView();
      const usage = usageOf(v).byOsd;
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
        used_bytes: usage.get(o.osd.id)?.used_bytes ?? 0,
        size_bytes: usage.get(o.osd.id)?.size_bytes ?? 0,
      }));
    },

    async okToStop(osdIds: number[]): Promise<OkToStop> {
      const v = await cephView();
      if (osdIds.length === 0) return { ok: true, reason: null };
      for (const id of osdIds) {
        if (!v.state.osds.some((o) => o.id === id))
          throw new DriverError(FAILURE.commandFailed, `Error ENOENT: osd.${id} does not exist`, false);
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

/** Machine rows this process has read, by account and BMC list, with a digest of their whole text. */
const machinesCache = new Map<string, { digest: string | null; rows: readonly SandboxMachine[] }>();

/**
 * The sandbox machines of these BMCs (every column), as `SELECT *` would return them. When this
 * process has read the same set before, one query first asks PostgreSQL for a digest (md5) of the
 * rows' whole text (every column of every row, in id order): unchanged, the kept rows are the
 * answer; changed (any column of any row, a row added or gone, by any writer), they are read again,
 * with their digest, in one statement. The kept rows are frozen and shared.
 */
async function machinesOf(db: Db, accountId: string, bmcs: string[]): Promise<readonly SandboxMachine[]> {
  const key = `${accountId}\u0000${bmcs.join(',')}`;
  const digestOf = sql<
    string | null
  >`(SELECT md5(string_agg(d::text, ',' ORDER BY d.id)) FROM sandbox_machines d WHERE d.account_id = ${accountId} AND d.ipmi_address = ANY(${bmcs}::text[]))`;
  const known = machinesCache.get(key);
  if (known) {
    const { rows } = await sql<{ digest: string | null }>`SELECT ${digestOf} AS digest`.execute(db);
    if (rows[0]?.digest === known.digest) {
      machinesCache.delete(key);
      machinesCache.set(key, known);
      return known.rows;
    }
  }
  const rows = await db
    .selectFrom('sandbox_machines')
    .selectAll()
    .select(digestOf.as('nf_digest'))
    .where('account_id', '=', accountId)
    .where('ipmi_address', 'in', bmcs)
    .execute();
  const digest = rows[0]?.nf_digest ?? null;
  const machines = rows.map(({ nf_digest: _, ...m }) => Object.freeze(m));
  machinesCache.delete(key);
  machinesCache.set(key, { digest, rows: machines });
  while (machinesCache.size > 64) machinesCache.delete(machinesCache.keys().next().value!);
  return machines;
}

// ---- Derivation (pure) ------------------------------------------------------------------------------

export function deriveView(state: SandboxCephState, machines: Map<string, SandboxMachine>, now: number): ClusterView {
  const conditions = new Map<string, MachineCondition>();
  for (const [host, m] of machines) conditions.set(host, machineCondition(m, now));
  const running = (host: string) => conditions.get(host)?.running === true;

  const times = timesOf(state);
  const created = times.created;
  const osds: OsdView[] = state.osds.map((osd, i) => {
    const m = machines.get(osd.host);
    const c = conditions.get(osd.host);
    let up = false;
    let upSince: number | null = null;
    let downSince = created;
    if (m && c && c.running && c.bootedAt) {
      const booted = c.bootedAt.getTime();
      const stoppedAt = times.stopped[i]!;
      // Stopped after the last boot: still down. Stopped before it: systemd started it at boot.
      const stopped = stoppedAt !== null && stoppedAt >= booted;
      const started = Math.max(booted, times.started[i] ?? 0);
      // osds_stay_down: a daemon that (re)started after the fault was set never comes up.
      const stayDown = faultSince(m, 'osds_stay_down');
      if (osd.destroyed || osd.failed_at) downSince = times.failed[i] ?? stoppedAt ?? created;
      else if (stopped) downSince = stoppedAt;
      else if (stayDown !== null && started > stayDown) downSince = started;
      else {
        up = true;
        upSince = started;
      }
    } else if (c) {
      downSince = (c.shutdownStartedAt ?? c.since).getTime();
    }
    // mon_osd_down_out_interval: down long enough without noout → marked out.
    const isIn =
      !osd.destroyed && (up || state.noout_hosts.includes(osd.host) || now - downSince < state.down_out_interval_ms);
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

/**
 * The stored times of a state, parsed (Date.parse of each OSD's stopped/started/failed time, as
 * deriveView used to do inline), by OSD index; kept per document read, which is frozen.
 */
interface StateTimes {
  created: number;
  stopped: (number | null)[];
  started: (number | null)[];
  failed: (number | null)[];
}
const timesCache = new WeakMap<SandboxCephState, StateTimes>();
function timesOf(state: SandboxCephState): StateTimes {
  const hit = timesCache.get(state);
  if (hit) return hit;
  // null exactly where the inline code fell through (`?? …`, or a falsy started_at meant 0).
  const parsed = (s: string | null | undefined) => (s != null ? Date.parse(s) : null);
  const times: StateTimes = {
    created: Date.parse(state.created_at),
    stopped: state.osds.map((o) => parsed(o.stopped_at)),
    started: state.osds.map((o) => (o.started_at ? Date.parse(o.started_at) : null)),
    failed: state.osds.map((o) => parsed(o.failed_at)),
  };
  if (Object.isFrozen(state)) timesCache.set(state, times);
  return times;
}

function pgStatesOf(
  state: SandboxCephState,
  osds: OsdView[],
  domains: number,
  now: number,
  placement: PgPlacementView,
) {
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

/** Per acting-set array (memoised placements are reused across calls): which PGs each OSD is in. */
const pgsOfOsdCache = new WeakMap<number[][], Map<number, number[]>>();

function pgsOfOsd(acting: number[][]): Map<number, number[]> {
  let index = pgsOfOsdCache.get(acting);
  if (index) return index;
  index = new Map();
  for (let i = 0; i < acting.length; i++) {
    for (const o of acting[i]!) {
      if (o === CRUSH_ITEM_NONE) continue;
      const list = index.get(o);
      if (list) list.push(i);
      else index.set(o, [i]);
    }
  }
  pgsOfOsdCache.set(acting, index);
  return index;
}

/**
 * PGs with fewer than their pool's min_size copies outside `down` (inactive), and with some copy in
 * it (degraded). Only the PGs of the down OSDs are looked at (from an index kept per placement), not
 * every PG of the cluster on every call.
 */
function countDown(placement: PgPlacementView, down: ReadonlySet<number>): { inactive: number; degraded: number } {
  if (down.size === 0) return { inactive: 0, degraded: 0 };
  // Pure in (placement, down): the polls of a batch ask the same question many times over.
  let memo = countDownCache.get(placement);
  if (!memo) countDownCache.set(placement, (memo = new Map()));
  const key = [...down].sort((a, b) => a - b).join(',');
  const hit = memo.get(key);
  if (hit) return { ...hit };
  const counted = countDownOnce(placement, down);
  if (memo.size >= 16) memo.delete(memo.keys().next().value!);
  memo.set(key, counted);
  return { ...counted };
}

const countDownCache = new WeakMap<PgPlacementView, Map<string, { inactive: number; degraded: number }>>();

function countDownOnce(placement: PgPlacementView, down: ReadonlySet<number>): { inactive: number; degraded: number } {
  let inactive = 0;
  let degraded = 0;
  const index = pgsOfOsd(placement.acting);
  const touched = new Set<number>();
  for (const o of down) for (const i of index.get(o) ?? []) touched.add(i);
  // Pools hold consecutive ranges of PG indices, in order.
  const ends: number[] = [];
  let end = 0;
  for (const pool of placement.pools) ends.push((end += pool.pg_num));
  for (const i of touched) {
    let k = 0;
    while (i >= ends[k]!) k += 1;
    const pool = placement.pools[k]!;
    let live = 0;
    for (const o of placement.acting[i]!) if (o !== CRUSH_ITEM_NONE && !down.has(o)) live += 1;
    if (live < pool.min_size) inactive += 1;
    else degraded += 1;
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
  if (inactive > 0)
    return { ok: false, reason: `unsafe to stop osd(s) at this time (${inactive} PGs are or would become offline)` };
  // A down OSD that holds no data (out, or at CRUSH weight 0 and drained) costs no failure domain.
  const holding = v.osds.filter(
    (o) => down.has(o.osd.id) && (o.pgs > 0 || (stopping.has(o.osd.id) && o.in && o.osd.crush_weight > 0)),
  );
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

export function statusOf(v: ClusterView, now: number): CephStatus {
  const osdsUp = v.osds.filter((o) => o.up).length;
  const osdsIn = v.osds.filter((o) => o.in).length;
  const clean = v.pgStates.find((p) => p.state === 'active+clean')?.count ?? 0;
  const flags = v.state.noout_hosts.length > 0 ? ['noout'] : [];
  const checks: CephHealthCheck[] = [];
  if (osdsUp < v.osds.length)
    checks.push({ code: 'OSD_DOWN', severity: 'HEALTH_WARN', summary: `${v.osds.length - osdsUp} osds down` });
  if (flags.length > 0)
    checks.push({
      code: 'OSD_FLAGS',
      severity: 'HEALTH_WARN',
      summary: `${v.state.noout_hosts.length} OSDs or CRUSH {nodes, device-classes} have {NOUP,NODOWN,NOIN,NOOUT} flags set`,
    });
  if (clean < v.state.pg_num)
    checks.push({
      code: 'PG_DEGRADED',
      severity: 'HEALTH_WARN',
      summary: `Degraded data redundancy: ${v.state.pg_num - clean} pgs not active+clean`,
    });
  if (v.monsInQuorum.length < v.state.mons.length)
    checks.push({
      code: 'MON_DOWN',
      severity: 'HEALTH_WARN',
      summary: `${v.state.mons.length - v.monsInQuorum.length}/${v.state.mons.length} mons down`,
    });
  if (!v.mgrAvailable) checks.push({ code: 'MGR_DOWN', severity: 'HEALTH_WARN', summary: 'no active mgr' });
  // The health_err fault stands for a full OSD (the sandbox's "something else is wrong").
  if (v.state.cluster_faults?.health_err)
    checks.push({ code: 'OSD_FULL', severity: 'HEALTH_ERR', summary: '1 full osd(s)' });
  checks.push(...releaseHealthChecks(v.state, now));
  checks.sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
  const warn =
    osdsUp < v.osds.length ||
    osdsIn < v.osds.length ||
    clean < v.state.pg_num ||
    flags.length > 0 ||
    v.monsInQuorum.length < v.state.mons.length ||
    !v.mgrAvailable ||
    checks.length > 0;
  const health: CephHealth = checks.some((c) => c.severity === 'HEALTH_ERR')
    ? 'HEALTH_ERR'
    : warn
      ? 'HEALTH_WARN'
      : 'HEALTH_OK';
  const usage = usageOf(v);
  return {
    health,
    checks,
    osds_total: v.osds.length,
    osds_up: osdsUp,
    osds_in: osdsIn,
    pgs_total: v.state.pg_num,
    pgs_active_clean: clean,
    pgs_settled: v.pgStates.filter((p) => isSettledPgState(p.state)).reduce((n, p) => n + p.count, 0),
    mgr_available: v.mgrAvailable,
    mons_in_quorum: v.monsInQuorum,
    mons_total: v.state.mons.length,
    flags,
    bytes_total: usage.bytes_total,
    bytes_used: usage.bytes_used,
    bytes_avail: usage.bytes_avail,
  };
}
