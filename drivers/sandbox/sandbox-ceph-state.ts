/**
 * The stored document of a simulated Ceph cluster (sandbox_ceph), its types and the view derived
 * from it, shared by sandbox-ceph.driver.ts and its per-concern modules (-lifecycle, -import,
 * -pools, -reweight, -upgrade). The driver composes those modules; they import this file, never the
 * driver, so no import runs in a circle.
 */
import { createHash } from 'node:crypto';
import type { Db, SandboxMachine } from '../../db/database';
import { json } from '../../db/database';
import { sql } from 'kysely';
import type { CephPool, CephTarget, CrushFailureDomain } from '../types';
import { clockOf, findByBmc, SandboxInputError, type SandboxClock } from './sandbox-machines';

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
  /** The drive failed (failSandboxOsdDrive): the daemon is down whatever happens, until replaced. */
  failed_at?: string | null;
  /** `ceph osd destroy`: the id and CRUSH position are kept, the OSD is down and out until recreated. */
  destroyed?: boolean;
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
  if (!Number.isInteger(size) || size < 1 || size > 10)
    throw new SandboxInputError(`replication must be 1..10, got ${size}`);
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
    if (unlabelled.length)
      throw new SandboxInputError(
        `failure domain ${fd}: ${unlabelled.map((h) => h.hostname).join(', ')} without a ${fd}`,
      );
    const domains = new Set(input.hosts.map((h) => h[fd])).size;
    if (domains < size)
      throw new SandboxInputError(`replication ${size} needs at least ${size} ${fd}s, got ${domains}`);
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
  const row = await db
    .selectFrom('sandbox_ceph')
    .select('state')
    .where('cluster_id', '=', clusterId)
    .executeTakeFirst();
  return row ? (row.state as SandboxCephState) : null;
}

/** Documents this process has read, by cluster id: the revision, the text as stored, the parsed (frozen) state. */
const readCache = new Map<string, { revision: string; text: string; state: SandboxCephState }>();
/** Clusters whose document is kept (least recently read first out): a few MB each at 4,320 OSDs. */
const READ_CACHE_CLUSTERS = 16;

/** The document's text: NULL when it is still the revision this process keeps. */
function documentText(known: { revision: string } | undefined) {
  return known
    ? sql<string | null>`CASE WHEN revision = ${known.revision}::bigint THEN NULL ELSE state::text END`
    : sql<string | null>`state::text`;
}

function keep(clusterId: string, revision: string, text: string, state: SandboxCephState) {
  readCache.delete(clusterId);
  readCache.set(clusterId, { revision, text, state });
  while (readCache.size > READ_CACHE_CLUSTERS) readCache.delete(readCache.keys().next().value!);
}

/**
 * The stored state of a simulated cluster for reading (what every simulated `ceph` call derives its
 * answer from), or null. One query whatever happens: it returns the row's revision and, only when
 * the revision is not the one this process keeps, the document (as text, parsed here once per
 * revision even when several calls in flight fetch it). The revision is set from a sequence on
 * every write by any process (migration 2026-12-05-0601), so an unchanged revision means an
 * unchanged document, read in the same statement — never a stale one. The result is shared
 * between callers and deep-frozen: change the state only through a transaction of its own (as
 * `mutate` does, lockSandboxCephState), never this object.
 */
export async function readSandboxCephState(db: Db, clusterId: string): Promise<SandboxCephState | null> {
  const known = readCache.get(clusterId);
  const row = await db
    .selectFrom('sandbox_ceph')
    .select([sql<string>`revision::text`.as('revision'), documentText(known).as('state')])
    .where('cluster_id', '=', clusterId)
    .executeTakeFirst();
  if (!row) {
    readCache.delete(clusterId);
    return null;
  }
  const kept = readCache.get(clusterId);
  if (kept?.revision === row.revision) {
    keep(clusterId, kept.revision, kept.text, kept.state);
    return kept.state;
  }
  if (known?.revision === row.revision) {
    keep(clusterId, known.revision, known.text, known.state);
    return known.state;
  }
  if (row.state === null)
    throw new Error(`sandbox_ceph ${clusterId}: revision ${row.revision} came without its document`);
  const state = deepFreeze(JSON.parse(row.state) as SandboxCephState);
  keep(clusterId, row.revision, row.state, state);
  return state;
}

/**
 * The stored state of a simulated cluster, locked (FOR UPDATE) in the transaction `trx`, as a fresh
 * object to change and write back; null when there is none. Like readSandboxCephState, the
 * document comes over only when it is not the revision this process keeps (then the kept text is
 * parsed: the same document, byte for byte, as the row's).
 */
export async function lockSandboxCephState(trx: Db, clusterId: string): Promise<SandboxCephState | null> {
  const known = readCache.get(clusterId);
  const row = await trx
    .selectFrom('sandbox_ceph')
    .select([sql<string>`revision::text`.as('revision'), documentText(known).as('state')])
    .where('cluster_id', '=', clusterId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) return null;
  const text = row.state ?? (known?.revision === row.revision ? known.text : null);
  if (text === null) throw new Error(`sandbox_ceph ${clusterId}: revision ${row.revision} came without its document`);
  return JSON.parse(text) as SandboxCephState;
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/**
 * Test helper: the OSD id now lives on another host and device, as after an operator destroyed it
 * and recreated it with the same id elsewhere (`ceph osd destroy` + `ceph-volume lvm create
 * --osd-id`). Throws when the cluster, the OSD or the host is unknown, or the device holds an OSD.
 */
export async function moveSandboxOsd(
  db: Db,
  clusterId: string,
  osdId: number,
  to: { host: string; device: string },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('sandbox_ceph')
      .select('state')
      .where('cluster_id', '=', clusterId)
      .forUpdate()
      .executeTakeFirst();
    if (!row) throw new SandboxInputError(`no sandbox Ceph cluster ${clusterId}`);
    const state = row.state as SandboxCephState;
    const osd = state.osds.find((o) => o.id === osdId);
    if (!osd) throw new SandboxInputError(`no osd.${osdId} in ${clusterId}`);
    if (!state.hosts.some((h) => h.hostname === to.host))
      throw new SandboxInputError(`${to.host} is not a host of ${clusterId}`);
    const taken = state.osds.find((o) => o.host === to.host && o.device === to.device);
    if (taken) throw new SandboxInputError(`${to.host}:${to.device} holds osd.${taken.id}`);
    osd.host = to.host;
    osd.device = to.device;
    await trx
      .updateTable('sandbox_ceph')
      .set({ state: json(state), updated_at: new Date() })
      .where('cluster_id', '=', clusterId)
      .execute();
  });
}

/**
 * Test helper: the drive behind an OSD fails (its daemon dies and cannot start again, like a disk
 * that stopped answering) at `at` (default now). Throws when the cluster or the OSD is unknown.
 */
export async function failSandboxOsdDrive(db: Db, clusterId: string, osdId: number, at = new Date()): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('sandbox_ceph')
      .select('state')
      .where('cluster_id', '=', clusterId)
      .forUpdate()
      .executeTakeFirst();
    if (!row) throw new SandboxInputError(`no sandbox Ceph cluster ${clusterId}`);
    const state = row.state as SandboxCephState;
    const osd = state.osds.find((o) => o.id === osdId);
    if (!osd) throw new SandboxInputError(`no osd.${osdId} in ${clusterId}`);
    osd.failed_at = at.toISOString();
    await trx
      .updateTable('sandbox_ceph')
      .set({ state: json(state), updated_at: new Date() })
      .where('cluster_id', '=', clusterId)
      .execute();
  });
}

/** Removes a simulated cluster (cluster deletion); true when there was one. */
export async function removeSandboxCephCluster(db: Db, clusterId: string): Promise<boolean> {
  const res = await db.deleteFrom('sandbox_ceph').where('cluster_id', '=', clusterId).executeTakeFirst();
  return res.numDeletedRows > 0n;
}

function sameAccount(state: SandboxCephState, accountId: string): SandboxCephState {
  if (state.account_id !== accountId)
    throw new SandboxInputError(`cluster ${state.cluster_id} belongs to another account`);
  return state;
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
  onHost(
    host: string,
    osdIds: number[],
    apply: (osd: SandboxCephOsd, at: string, bootedAt: number) => void,
  ): Promise<void>;
}

export interface OsdView {
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

// ---- Upgrade state (sandbox-ceph-upgrade.ts) ----------------------------------------------------------

export type SandboxUpgradeEventKind =
  | 'autoscale_frozen'
  | 'autoscale_released'
  | 'daemon_redeployed'
  | 'mgr_failover'
  | 'host_down'
  | 'host_upgraded'
  | 'host_up'
  | 'require_osd_release';

export interface SandboxUpgradeEvent {
  at: string;
  kind: SandboxUpgradeEventKind;
  host: string | null;
  /** "mon.storage-1", "mgr.storage-2" for daemon events. */
  daemon?: string;
  /** The version string the daemon or host now runs. */
  version?: string;
}

export interface SandboxUpgradeState {
  /** Daemon key ("mon.<host>", "mgr.<host>", "osd.<id>") → `ceph version …` string; absent = ceph_version. */
  versions: Record<string, string>;
  /** Redeploys and host upgrades in flight: key ("mon.<host>", "host:<name>") → target and end time. */
  pending: Record<string, { version: string; ready_at: string }>;
  /** Set by `ceph mgr fail`; null = the first running mgr. */
  active_mgr: string | null;
  noautoscale: boolean;
  events: SandboxUpgradeEvent[];
  /** Hosts stopped for an upgrade and not started yet, and the most there ever were at once. */
  down_hosts: string[];
  max_down_hosts: number;
  /** `ceph osd require-osd-release`; absent = the release the cluster was created with. */
  require_osd_release?: string;
  /**
   * The cephx key type of the cluster's entities: "aes" (created before Tentacle) or "aes256k".
   * Absent = "aes256k" for a cluster created at Tentacle or later, else "aes". Tentacle daemons raise
   * AUTH_INSECURE_* while it is "aes" (docs/upgrades.md §Tentacle and cephx).
   */
  cephx_key_type?: 'aes' | 'aes256k';
}

// ---- Placement (sandbox-ceph-reweight.ts) -----------------------------------------------------------

export type FailureDomain = 'osd' | 'host' | 'rack' | 'zone';

export interface PoolSpec {
  id: number;
  pg_num: number;
  size: number;
  min_size: number;
  failure_domain: FailureDomain;
}

export interface PgPlacementView {
  /** Every PG's pool, in PG order (the order of `acting`). */
  pools: PoolSpec[];
  /** Where every PG's data is (its acting set; CRUSH_ITEM_NONE where a replica is missing), pool by pool. */
  acting: number[][];
  /** PGs per OSD id (up ∪ acting). */
  pgsByOsd: Map<number, number>;
  /** PGs backfilling or waiting to (their data is still where it was). */
  remapped: number;
  /** PGs whose up set cannot be filled: active+clean+remapped forever. */
  stuck: number;
  /** Ids of stuck PGs per OSD that holds them. */
  stuckByOsd: Map<number, string[]>;
}

function uuidFrom(seed: string): string {
  const h = createHash('sha256').update(`nodefoundry-sandbox-fsid:${seed}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
