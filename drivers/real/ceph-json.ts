/**
 * Parsers for `ceph … -f json` output (shapes checked against Ceph 16.2 in the lab; fixtures in
 * test/fixtures/ceph). Each validates what it reads: a shape we do not understand is an error
 * (command_failed), never a silent zero that a workflow could mistake for "no OSDs down".
 */
import { FAILURE } from '../../lib/failures';
import { DriverError, type CephHealth, type CephHealthCheck, type CephOsd, type CephStatus } from '../types';
import { isSettledPgState } from '../../lib/pg-states';

type Obj = Record<string, unknown>;

function bad(what: string, detail: string): DriverError {
  return new DriverError(FAILURE.commandFailed, `unexpected ${what} output: ${detail}`, false);
}

/** Ceph prints a newline before its JSON; anything that is not a JSON object is rejected. */
export function parseJsonObject(what: string, stdout: string): Obj {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw bad(what, `not JSON: ${JSON.stringify(stdout.trim().slice(0, 120))}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw bad(what, 'not a JSON object');
  return doc as Obj;
}

const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

/** A JSON array of objects (non-objects read as `{}`); anything else is rejected. */
export function parseJsonArray(what: string, stdout: string): Obj[] {
  return parseJsonList(what, stdout).map(obj);
}

/** A JSON array, as it is. */
export function parseJsonList(what: string, stdout: string): unknown[] {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw bad(what, `not JSON: ${JSON.stringify(stdout.trim().slice(0, 120))}`);
  }
  if (!Array.isArray(doc)) throw bad(what, 'not a JSON array');
  return doc;
}
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function num(what: string, v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(what, `${field} is not a number`);
  return v;
}

const HEALTH: readonly CephHealth[] = ['HEALTH_OK', 'HEALTH_WARN', 'HEALTH_ERR'];

/**
 * Flags that are always set on a modern cluster and mean nothing to an operator (feature bits
 * recorded as flags). Everything else in the osdmap (noout, norebalance, pause, …) is reported.
 */
const ROUTINE_OSDMAP_FLAGS = new Set(['sortbitwise', 'recovery_deletes', 'purged_snapdirs', 'pglog_hardlimit']);

export interface OsdDump {
  /** Cluster-wide osdmap flags, routine ones left out. */
  flags: string[];
  /** CRUSH nodes (hosts) carrying `noout` (set by `ceph osd set-group noout <host>`). */
  nooutHosts: string[];
  /** Flags set on any CRUSH node or device class. */
  groupFlags: string[];
  /** PGs with a pg_temp entry: served by a temporary acting set while they backfill. */
  pgTemp: number;
}

export function parseOsdDump(stdout: string): OsdDump {
  const doc = parseJsonObject('osd dump', stdout);
  let flags: string[];
  if (Array.isArray(doc.flags_set)) flags = doc.flags_set.filter((f): f is string => typeof f === 'string');
  else if (typeof doc.flags === 'string') flags = doc.flags.split(',').filter(Boolean);
  else throw bad('osd dump', 'no flags');
  const nooutHosts: string[] = [];
  const groupFlags = new Set<string>();
  for (const section of [doc.crush_node_flags, doc.device_class_flags]) {
    for (const [node, list] of Object.entries(obj(section))) {
      const names = arr(list).filter((f): f is string => typeof f === 'string');
      for (const f of names) groupFlags.add(f);
      if (section === doc.crush_node_flags && names.includes('noout')) nooutHosts.push(node);
    }
  }
  return {
    flags: flags.filter((f) => !ROUTINE_OSDMAP_FLAGS.has(f)).sort(),
    nooutHosts: nooutHosts.sort(),
    groupFlags: [...groupFlags].sort(),
    pgTemp: arr(doc.pg_temp).length,
  };
}

/**
 * The flags `ceph health detail -f json` reports (issue 14: the narrow read instead of a whole
 * `osd dump`, which is ~4.6 MiB at 5,000 OSDs). Same in Pacific 16.2, Reef 18.2 and Tentacle 20.2
 * (test/fixtures/ceph: health_detail_noout_osd_down.json, reef-tentacle-mixed.health_detail.json):
 * - OSDMAP_FLAGS, cluster-wide: summary `noout,norebalance flag(s) set`, no detail. Ceph raises it
 *   for the flags an operator sets (pause{rd,wr}, noup, nodown, noin, noout, nobackfill, norecover,
 *   norebalance, noscrub, nodeep-scrub, notieragent, nosnaptrim), never for routine feature flags.
 * - OSD_FLAGS, per OSD, CRUSH node or device class: one detail line each, `host labnode1 has flags
 *   noout`, `osd.3 has flags noup,noin`, `device class 'hdd' has flags noout`.
 * A muted check is still listed by `health detail`. pgTemp is not here: `ceph status` carries it
 * (`osdmap.num_remapped_pgs`, the number of pg_temp entries); see parseRemappedPgs.
 */
export function parseHealthFlags(stdout: string): Omit<OsdDump, 'pgTemp'> {
  const doc = parseJsonObject('health detail', stdout);
  parseHealthChecks(doc);
  const checks = obj(doc.checks);
  const flags = new Set<string>();
  const m = /^(\S+) flag\(s\) set/.exec(String(obj(obj(checks.OSDMAP_FLAGS).summary).message ?? ''));
  if (m) for (const f of m[1]!.split(',')) if (f && !ROUTINE_OSDMAP_FLAGS.has(f)) flags.add(f);
  const nooutHosts: string[] = [];
  const groupFlags = new Set<string>();
  for (const d of arr(obj(checks.OSD_FLAGS).detail).map(obj)) {
    const line = typeof d.message === 'string' ? d.message : '';
    const g = /^(.*) has flags (\S+)$/.exec(line);
    if (!g) continue;
    const names = g[2]!.split(',').filter(Boolean);
    for (const f of names) groupFlags.add(f);
    // A CRUSH node reads `<type> <name>` (host, rack, …); an OSD `osd.N`; a class `device class '…'`.
    const node = /^(\S+) (\S+)$/.exec(g[1]!);
    if (node && node[1] !== 'device' && names.includes('noout')) nooutHosts.push(node[2]!);
  }
  return { flags: [...flags].sort(), nooutHosts: nooutHosts.sort(), groupFlags: [...groupFlags].sort() };
}

/** `ceph status -f json`: `osdmap.num_remapped_pgs`, the OSD map's pg_temp entries (0 when absent). */
export function parseRemappedPgs(statusStdout: string): number {
  let osdmap = obj(parseJsonObject('status', statusStdout).osdmap);
  if (typeof osdmap.num_osds !== 'number' && osdmap.osdmap) osdmap = obj(osdmap.osdmap);
  const n = osdmap.num_remapped_pgs;
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}

/**
 * `ceph tell osd.* flush_pg_stats` (plain): one `osd.N: <seq>` line per OSD that answered; OSDs
 * that are down print an error on stderr instead.
 */
export function parseFlushPgStats(stdout: string): Map<number, number> {
  const seqs = new Map<number, number>();
  for (const m of stdout.matchAll(/^osd\.(\d+):\s*(\d+)\s*$/gm)) seqs.set(Number(m[1]), Number(m[2]));
  return seqs;
}

/**
 * `ceph pg dump osds -f json`: the stats sequence number the mgr holds for each OSD (pacific
 * prints `{"pg_ready":…,"osd_stats":[…]}`, older releases the bare array). null when the output is
 * not what this expects, so the caller can carry on without the check.
 */
export function parseOsdStatSeqs(stdout: string): Map<number, number> | null {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    return null;
  }
  const list = Array.isArray(doc) ? doc : obj(doc).osd_stats;
  if (!Array.isArray(list)) return null;
  const seqs = new Map<number, number>();
  for (const e of list.map(obj)) if (typeof e.osd === 'number' && typeof e.seq === 'number') seqs.set(e.osd, e.seq);
  return seqs;
}

/**
 * `ceph status -f json` (+ the osd dump for flags, which status does not list). Handles the
 * pre-Nautilus nesting `osdmap.osdmap` as well.
 */
/**
 * The `health` object of `ceph status -f json`, or the whole of `ceph health detail -f json` (same
 * shape: `{status, checks: {CODE: {severity, summary: {message}, detail?, muted?}}, mutes}`). Checks
 * sorted by code; a muted check is still listed (Ceph leaves it out of `status`).
 */
export function parseHealthChecks(health: unknown): { status: CephHealth; checks: CephHealthCheck[] } {
  const h = obj(health);
  const status = h.status;
  if (typeof status !== 'string' || !HEALTH.includes(status as CephHealth))
    throw bad('status', `health ${JSON.stringify(status)}`);
  const checks = Object.entries(obj(h.checks))
    .map(([code, v]): CephHealthCheck => {
      const c = obj(v);
      const severity = c.severity === 'HEALTH_ERR' ? 'HEALTH_ERR' : 'HEALTH_WARN';
      const message = obj(c.summary).message;
      return { code, severity, summary: typeof message === 'string' ? message : '' };
    })
    .sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
  return { status: status as CephHealth, checks };
}

export function parseCephStatus(statusStdout: string, dump: OsdDump): CephStatus {
  const doc = parseJsonObject('status', statusStdout);
  const { status: health, checks } = parseHealthChecks(doc.health);
  let osdmap = obj(doc.osdmap);
  if (typeof osdmap.num_osds !== 'number' && osdmap.osdmap) osdmap = obj(osdmap.osdmap);
  const pgmap = obj(doc.pgmap);
  const byState = arr(pgmap.pgs_by_state).map(obj);
  const pgsTotal = typeof pgmap.num_pgs === 'number' ? pgmap.num_pgs : 0;
  const activeClean = byState
    .filter((s) => s.state_name === 'active+clean')
    .reduce((sum, s) => sum + num('status', s.count, 'pgs_by_state.count'), 0);
  const settled = byState
    .filter((s) => typeof s.state_name === 'string' && isSettledPgState(s.state_name))
    .reduce((sum, s) => sum + num('status', s.count, 'pgs_by_state.count'), 0);
  const quorum = arr(doc.quorum_names).filter((n): n is string => typeof n === 'string');
  const monmap = obj(doc.monmap);
  const monsTotal = typeof monmap.num_mons === 'number' ? monmap.num_mons : arr(monmap.mons).length;
  if (monsTotal === 0) throw bad('status', 'no monmap');
  return {
    health,
    checks,
    osds_total: num('status', osdmap.num_osds, 'osdmap.num_osds'),
    osds_up: num('status', osdmap.num_up_osds, 'osdmap.num_up_osds'),
    osds_in: num('status', osdmap.num_in_osds, 'osdmap.num_in_osds'),
    // With no pool yet pgmap has no num_pgs on some versions: that is 0 PGs, not an error.
    pgs_total: pgsTotal,
    // A PG with a pg_temp entry is still moving, whatever state the mgr last heard (LAB.md).
    pgs_active_clean: Math.max(0, Math.min(activeClean, pgsTotal - dump.pgTemp)),
    pgs_settled: Math.max(0, Math.min(settled, pgsTotal - dump.pgTemp)),
    mgr_available: obj(doc.mgrmap).available === true,
    mons_in_quorum: quorum,
    mons_total: monsTotal,
    flags: [...new Set([...dump.flags, ...dump.groupFlags])].sort(),
    ...pgmapBytes(pgmap),
  };
}

/** Raw capacity from the pgmap (bytes, every copy counted); null where the status does not carry it. */
function pgmapBytes(pgmap: Obj): Pick<CephStatus, 'bytes_total' | 'bytes_used' | 'bytes_avail'> {
  const field = (name: string): number | null => {
    const v = pgmap[name];
    if (v === undefined) return null;
    return num('status', v, `pgmap.${name}`);
  };
  return { bytes_total: field('bytes_total'), bytes_used: field('bytes_used'), bytes_avail: field('bytes_avail') };
}

export interface TreeOsd {
  id: number;
  host: string;
  up: boolean;
  crush_weight: number;
  reweight: number;
  device_class?: string;
}

/**
 * `ceph osd tree -f json`: a flat list of nodes; buckets list their children's ids. An OSD's host
 * is the bucket of type "host" that lists it (an OSD outside any host gets "").
 */
export function parseOsdTree(stdout: string): TreeOsd[] {
  const doc = parseJsonObject('osd tree', stdout);
  if (!Array.isArray(doc.nodes)) throw bad('osd tree', 'no nodes array');
  const nodes = doc.nodes.map(obj);
  const hostOf = new Map<number, string>();
  for (const n of nodes) {
    if (n.type === 'host' && typeof n.name === 'string')
      for (const c of arr(n.children)) if (typeof c === 'number') hostOf.set(c, n.name);
  }
  const osds: TreeOsd[] = [];
  for (const n of [...nodes, ...arr(doc.stray).map(obj)]) {
    if (n.type !== 'osd') continue;
    const id = num('osd tree', n.id, 'id');
    osds.push({
      id,
      host: hostOf.get(id) ?? '',
      up: n.status === 'up',
      crush_weight: num('osd tree', n.crush_weight, `osd.${id}.crush_weight`),
      reweight: num('osd tree', n.reweight, `osd.${id}.reweight`),
      ...(typeof n.device_class === 'string' ? { device_class: n.device_class } : {}),
    });
  }
  return osds.sort((a, b) => a.id - b.id);
}

/** `ceph osd df -f json`: PG count per OSD id. */
export function parseOsdDf(stdout: string): Map<number, number> {
  const doc = parseJsonObject('osd df', stdout);
  if (!Array.isArray(doc.nodes)) throw bad('osd df', 'no nodes array');
  const pgs = new Map<number, number>();
  for (const n of doc.nodes.map(obj)) {
    if (n.type !== undefined && n.type !== 'osd') continue;
    const id = num('osd df', n.id, 'id');
    pgs.set(id, num('osd df', n.pgs, `osd.${id}.pgs`));
  }
  return pgs;
}

export interface OsdUsage {
  used_bytes: number;
  size_bytes: number;
}

/**
 * `ceph osd df -f json`: bytes each OSD stores and its size (kb_used, kb are KiB; Ceph reports 0
 * for both while the OSD is out).
 */
export function parseOsdDfUsage(stdout: string): Map<number, OsdUsage> {
  const doc = parseJsonObject('osd df', stdout);
  if (!Array.isArray(doc.nodes)) throw bad('osd df', 'no nodes array');
  const usage = new Map<number, OsdUsage>();
  for (const n of doc.nodes.map(obj)) {
    if (n.type !== undefined && n.type !== 'osd') continue;
    const id = num('osd df', n.id, 'id');
    usage.set(id, {
      used_bytes: num('osd df', n.kb_used, `osd.${id}.kb_used`) * 1024,
      size_bytes: num('osd df', n.kb, `osd.${id}.kb`) * 1024,
    });
  }
  return usage;
}

/**
 * OSDs from the tree and the df: "in" is a reweight above 0 (`ceph osd out` sets it to 0). An OSD
 * the df does not list (created since) stores 0 bytes as far as we know.
 */
export function combineOsds(
  tree: TreeOsd[],
  pgs: Map<number, number>,
  usage: Map<number, OsdUsage> = new Map(),
): CephOsd[] {
  return tree.map((t) => ({
    id: t.id,
    host: t.host,
    up: t.up,
    in: t.reweight > 0,
    crush_weight: t.crush_weight,
    reweight: t.reweight,
    pgs: pgs.get(t.id) ?? 0,
    used_bytes: usage.get(t.id)?.used_bytes ?? 0,
    size_bytes: usage.get(t.id)?.size_bytes ?? 0,
    ...(t.device_class !== undefined ? { device_class: t.device_class } : {}),
  }));
}

/**
 * `ceph osd dump -f json`: the state of OSD `id` (`["exists","up"]`, `["destroyed","exists"]`, …),
 * or null when the map has no such OSD.
 */
export function osdStateOf(stdout: string, id: number): string[] | null {
  const doc = parseJsonObject('osd dump', stdout);
  const list = Array.isArray(doc.osds) ? doc.osds.map(obj) : null;
  if (!list) throw bad('osd dump', 'no osds array');
  const o = list.find((x) => x.osd === id);
  if (!o) return null;
  return Array.isArray(o.state) ? o.state.filter((x): x is string => typeof x === 'string') : [];
}
