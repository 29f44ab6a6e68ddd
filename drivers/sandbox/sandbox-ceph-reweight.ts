/**
 * The simulated Ceph's PG placement and backfill (CRUSH weights, drains, safe-to-destroy).
 *
 * Placement is CRUSH-like: every PG of every pool picks `size` distinct failure domains (hosts, or
 * racks/zones/OSDs as the pool's rule or erasure profile says; the implicit pool follows the
 * default rule) by straw2 draws weighted by CRUSH weight, then an OSD inside each domain the same
 * way. The acting sets it returns are what health, degraded/inactive PGs and ok-to-stop are
 * computed from (sandbox-ceph.driver.ts). It is deterministic, so it is derived, never stored. When the
 * weights cannot give a PG `size` domains, its up set holds CRUSH_ITEM_NONE (2147483647), as Ceph's.
 *
 * Backfill: every CRUSH weight change is stored as an epoch (the full weight map, when, and how long
 * its backfill takes at the cluster's speed). A PG's data sits on the placement of the last epoch it
 * has finished moving to; each PG finishes at its own deterministic moment inside the epoch's window,
 * so the OSD's PG count falls steadily. A PG whose new up set cannot be filled never moves (its old
 * OSDs keep serving it through pg_temp: active+clean+remapped, forever), which is the drain that
 * never ends in the lab (LAB.md).
 */
import { FAILURE } from '../../lib/failures';
import { DriverError, type CephPgPlacement, type CephReweightOps, type CephSafeToDestroy } from '../types';
import type {
  ClusterView,
  FailureDomain,
  PgPlacementView,
  PoolSpec,
  SandboxCephContext,
  SandboxCephState,
} from './sandbox-ceph-state';

export type { FailureDomain, PgPlacementView, PoolSpec } from './sandbox-ceph-state';

export const CRUSH_ITEM_NONE = 2147483647;
/** Time to backfill one PG at speed 1, ms: a 6-OSD cluster drains one OSD in about 5 s, as the lab's. */
export const NOMINAL_BACKFILL_MS_PER_PG = 40;
/** Nominal recovery delay (ms at speed 1) the stored recovery_delay_ms was scaled from. */
const NOMINAL_RECOVERY_MS = 5_000;
/** Epochs kept: older weight changes have long finished their backfill. */
const MAX_EPOCHS = 16;

export interface CrushEpoch {
  at: string;
  /** CRUSH weight of every OSD (by id) from this change on. */
  weights: Record<string, number>;
  /** How long the backfill this change started takes, ms. */
  backfill_ms: number;
}

/** The reweight model's optional fields of SandboxCephState (absent until the first CRUSH reweight). */
export interface ReweightState {
  crush_epochs?: CrushEpoch[];
  /** Full (device) weight of OSDs whose CRUSH weight was changed, TiB. */
  device_weights?: Record<string, number>;
}

const domainOf = (v: string | null | undefined): FailureDomain =>
  v === 'osd' || v === 'rack' || v === 'zone' ? v : 'host';

/** The failure domain of `osd_pool_default_crush_rule` (the rule a pool gets when none is named). */
export function defaultFailureDomain(state: SandboxCephState): FailureDomain {
  const id = state.default_crush_rule ?? 0;
  return domainOf(state.crush_rules?.find((r) => r.id === id)?.failure_domain);
}

/**
 * Pools as placed: the ones the pool ops stored, each with its rule's (or erasure profile's)
 * failure domain, plus an implicit replicated pool for the rest of pg_num, on the default rule.
 */
export function poolsOf(state: SandboxCephState): PoolSpec[] {
  const stored = (state.pools ?? []).map((p) => {
    const rule = state.crush_rules?.find((r) => r.id === p.crush_rule_id);
    const profile = p.erasure_profile ? state.erasure_profiles?.find((e) => e.name === p.erasure_profile) : undefined;
    return {
      id: p.id,
      pg_num: p.pg_num,
      size: p.size,
      min_size: p.min_size,
      failure_domain: domainOf(profile?.failure_domain ?? rule?.failure_domain),
    };
  });
  const rest = state.pg_num - stored.reduce((n, p) => n + p.pg_num, 0);
  const implicitId = stored.some((p) => p.id === 1) ? Math.max(...stored.map((p) => p.id)) + 1 : 1;
  return rest > 0
    ? [
        {
          id: implicitId,
          pg_num: rest,
          size: state.size,
          min_size: state.min_size,
          failure_domain: defaultFailureDomain(state),
        },
        ...stored,
      ]
    : stored;
}

/** The CRUSH bucket of a failure domain an OSD of `host` is under (a host without the label is its own bucket, as in CRUSH). */
export function domainNameOf(state: SandboxCephState, fd: FailureDomain, host: string, osdId: number): string {
  if (fd === 'osd') return `osd.${osdId}`;
  if (fd === 'host') return host;
  const h = state.hosts.find((x) => x.hostname === host);
  return (fd === 'rack' ? h?.rack : h?.zone) ?? host;
}

// ---- straw2 --------------------------------------------------------------------------------------

function mix(a: number, b: number, c: number): number {
  let x =
    Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^
    Math.imul((b + 0x7f4a7c15) | 0, 0xc2b2ae35) ^
    Math.imul((c + 0x165667b1) | 0, 0x27d4eb2f);
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

function strHash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Uniform in (0, 1), deterministic in its inputs. */
function unit(a: number, b: number, c: number): number {
  return (mix(a, b, c) + 1) / 4294967297;
}

interface Domain {
  key: number;
  weight: number;
  osds: { id: number; weight: number }[];
}

function straw2<T extends { weight: number }>(items: T[], keyOf: (t: T) => number, pgKey: number, r: number): T | null {
  let best: T | null = null;
  let bestDraw = -Infinity;
  for (const it of items) {
    if (it.weight <= 0) continue;
    const draw = Math.log(unit(pgKey, keyOf(it), r)) / it.weight;
    if (draw > bestDraw) {
      bestDraw = draw;
      best = it;
    }
  }
  return best;
}

/** Up sets of every PG (pool by pool, PG by PG) for one weight map. */
function placeAll(state: SandboxCephState, pools: PoolSpec[], weightOf: (osdId: number) => number): number[][] {
  const domainsBy = new Map<FailureDomain, Domain[]>();
  const domainsFor = (fd: FailureDomain): Domain[] => {
    let ds = domainsBy.get(fd);
    if (ds) return ds;
    const m = new Map<string, Domain>();
    for (const o of state.osds) {
      const name = domainNameOf(state, fd, o.host, o.id);
      let d = m.get(name);
      if (!d) m.set(name, (d = { key: strHash(name), weight: 0, osds: [] }));
      const w = weightOf(o.id);
      d.osds.push({ id: o.id, weight: w });
      d.weight += w;
    }
    ds = [...m.values()];
    domainsBy.set(fd, ds);
    return ds;
  };
  const out: number[][] = [];
  for (const pool of pools) {
    const domains = domainsFor(pool.failure_domain);
    const usable = domains.filter((d) => d.weight > 0).length;
    for (let ps = 0; ps < pool.pg_num; ps++) {
      const pgKey = mix(pool.id, ps, 0x5eed);
      const chosen: Domain[] = [];
      const up: number[] = [];
      for (let r = 0; r < pool.size; r++) {
        let pick: Domain | null = null;
        if (chosen.length < usable) {
          for (let attempt = 0; attempt < 50 && !pick; attempt++) {
            const d = straw2(domains, (x) => x.key, pgKey, r + attempt * pool.size);
            if (d && !chosen.includes(d)) pick = d;
          }
          // Very uneven weights can exhaust the tries (CRUSH's choose_total_tries); a domain is
          // still free, so draw among the free ones rather than leave the PG short.
          pick ??= straw2(
            domains.filter((d) => !chosen.includes(d)),
            (x) => x.key,
            pgKey,
            r + 50 * pool.size,
          );
        }
        if (!pick) {
          up.push(CRUSH_ITEM_NONE);
          continue;
        }
        chosen.push(pick);
        up.push(straw2(pick.osds, (o) => o.id + 1, pgKey, r)!.id);
      }
      out.push(up);
    }
  }
  return out;
}

const cache = new Map<string, number[][]>();
const layoutKeys = new WeakMap<SandboxCephState, { pools: string; json: string }>();

/** Placement for a weight map, memoised (deterministic): most calls see the same few maps. */
function placementFor(state: SandboxCephState, pools: PoolSpec[], weightOf: (osdId: number) => number): number[][] {
  // What places the PGs (cluster, pools, hosts, which OSD is where), then every OSD's weight. The
  // first part is kept per stored document read (frozen, so it cannot change under the key); only
  // the weights, which depend on which OSDs are in at the time, are written out on every call.
  const poolsJson = JSON.stringify(pools);
  const frozen = Object.isFrozen(state);
  let layout = frozen ? layoutKeys.get(state) : undefined;
  if (layout?.pools !== poolsJson) {
    const json = JSON.stringify([state.cluster_id, pools, state.hosts, state.osds.map((o) => [o.id, o.host])]);
    layout = { pools: poolsJson, json };
    if (frozen) layoutKeys.set(state, layout);
  }
  const key = `${layout.json}\u0000${state.osds.map((o) => weightOf(o.id)).join(',')}`;
  let p = cache.get(key);
  if (p) {
    cache.delete(key);
    cache.set(key, p);
    return p;
  }
  p = placeAll(state, pools, weightOf);
  cache.set(key, p);
  while (cache.size > 48) cache.delete(cache.keys().next().value!);
  return p;
}

// ---- Derivation -------------------------------------------------------------------------------------

/** What derivePlacement needs of a document besides the time; kept per frozen (read) document. */
interface DocumentParts {
  pools: PoolSpec[];
  reweight: Map<number, number>;
  epochs: CrushEpoch[];
  /** Placements by "epoch index:out OSD ids", only for a frozen document. */
  placements: Map<string, number[][]> | null;
}
const partsCache = new WeakMap<SandboxCephState, DocumentParts>();

function partsOf(state: SandboxCephState): DocumentParts {
  const hit = partsCache.get(state);
  if (hit) return hit;
  const frozen = Object.isFrozen(state);
  const parts: DocumentParts = {
    pools: poolsOf(state),
    reweight: new Map(state.osds.map((o) => [o.id, o.reweight])),
    epochs: (state as ReweightState).crush_epochs ?? [
      {
        at: state.created_at,
        weights: Object.fromEntries(state.osds.map((o) => [String(o.id), o.crush_weight])),
        backfill_ms: 0,
      },
    ],
    placements: frozen ? new Map() : null,
  };
  if (frozen) partsCache.set(state, parts);
  return parts;
}

const sameSet = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const complete = (s: number[]) => !s.includes(CRUSH_ITEM_NONE);

/**
 * Where every PG's data is at `now` and where CRUSH wants it. `inOsd` says which OSDs are in (an out
 * OSD weighs 0 for CRUSH).
 */
export function derivePlacement(
  state: SandboxCephState,
  inOsd: (osdId: number) => boolean,
  now: number,
): PgPlacementView {
  const { pools, reweight, epochs, placements: known } = partsOf(state);
  // A frozen document (a read, sandbox-ceph-state.ts) cannot change, so with it the weights CRUSH
  // sees depend only on the epoch and on which OSDs are out: that pair finds the placement again
  // without writing out every OSD's weight.
  let outKey = '';
  if (known) {
    const out: number[] = [];
    for (const o of state.osds) if (!inOsd(o.id)) out.push(o.id);
    outKey = out.join(',');
  }
  const placements = epochs.map((e, k) => {
    const hit = known?.get(`${k}:${outKey}`);
    if (hit) return hit;
    const p = placementFor(state, pools, (id) =>
      inOsd(id) ? (e.weights[String(id)] ?? 0) * (reweight.get(id) ?? 1) : 0,
    );
    if (known) {
      if (known.size >= 4) known.delete(known.keys().next().value!);
      known.set(`${k}:${outKey}`, p);
    }
    return p;
  });
  // The settled case (no weight change in flight) is memoised whole: nothing per PG is built for it
  // (a 4,320-OSD cluster has 131,072 PGs, and this runs on every simulated `ceph` call).
  if (placements.length === 1) return settled(state, pools, placements[0]!);
  const pgIds: string[] = [];
  for (const p of pools) for (let ps = 0; ps < p.pg_num; ps++) pgIds.push(`${p.id}.${ps.toString(16)}`);
  const pgsByOsd = new Map<number, number>(state.osds.map((o) => [o.id, 0]));
  const actingSets: number[][] = [];
  const stuckByOsd = new Map<number, string[]>();
  let remapped = 0;
  let stuck = 0;
  const last = placements.length - 1;
  for (let i = 0; i < pgIds.length; i++) {
    let acting = placements[0]![i]!;
    for (let k = 1; k <= last; k++) {
      const target = placements[k]![i]!;
      if (sameSet(target, acting) || !complete(target)) continue;
      const e = epochs[k]!;
      const doneAt = Date.parse(e.at) + e.backfill_ms * unit(i, k, 0xbacf111);
      if (now >= doneAt) acting = target;
    }
    actingSets.push(acting);
    const up = placements[last]![i]!;
    const holders = new Set([...up, ...acting].filter((x) => x !== CRUSH_ITEM_NONE));
    for (const o of holders) pgsByOsd.set(o, (pgsByOsd.get(o) ?? 0) + 1);
    if (sameSet(up, acting)) continue;
    if (!complete(up)) {
      stuck += 1;
      for (const o of holders) {
        const l = stuckByOsd.get(o) ?? [];
        if (l.length < 20) l.push(pgIds[i]!);
        stuckByOsd.set(o, l);
      }
    } else remapped += 1;
  }
  return { pools, acting: actingSets, pgsByOsd, remapped, stuck, stuckByOsd };
}

const settledCache = new WeakMap<number[][], PgPlacementView>();

/** No weight change in flight: every PG is where CRUSH wants it (or stuck); memoised per placement. */
function settled(state: SandboxCephState, pools: PoolSpec[], up: number[][]): PgPlacementView {
  const hit = settledCache.get(up);
  if (hit && state.osds.every((o) => hit.pgsByOsd.has(o.id))) return hit;
  const pgsByOsd = new Map<number, number>(state.osds.map((o) => [o.id, 0]));
  for (const set of up) for (const o of set) if (o !== CRUSH_ITEM_NONE) pgsByOsd.set(o, (pgsByOsd.get(o) ?? 0) + 1);
  // Without an earlier placement there is nowhere else the data could be: short PGs are undersized,
  // not remapped, so nothing is stuck in the drain sense.
  const view: PgPlacementView = { pools, acting: up, pgsByOsd, remapped: 0, stuck: 0, stuckByOsd: new Map() };
  settledCache.set(up, view);
  return view;
}

/** Backfill window of a new weight map: every PG that moves takes its turn at the cluster's speed. */
function backfillMs(state: SandboxCephState, before: number[][], after: number[][]): number {
  let moved = 0;
  for (let i = 0; i < after.length; i++) if (!sameSet(before[i]!, after[i]!) && complete(after[i]!)) moved += 1;
  const speed = state.recovery_delay_ms / NOMINAL_RECOVERY_MS;
  return Math.round(moved * NOMINAL_BACKFILL_MS_PER_PG * speed);
}

// ---- The operations -----------------------------------------------------------------------------------

/** CephReweightOps of the simulated Ceph (see SandboxCephContext). */
export function createSandboxReweightOps(ctx: SandboxCephContext): CephReweightOps {
  function osdOf(v: ClusterView, id: number) {
    const o = v.osds.find((x) => x.osd.id === id);
    if (!o) throw new DriverError(FAILURE.commandFailed, `Error ENOENT: osd.${id} does not exist`, false);
    return o;
  }

  return {
    async crushReweight(osdId: number, weight: number): Promise<void> {
      if (!Number.isFinite(weight) || weight < 0) {
        throw new DriverError(FAILURE.commandFailed, `Error EINVAL: invalid weight ${weight}`, false);
      }
      const v = await ctx.cephView();
      osdOf(v, osdId);
      const inOsd = new Map(v.osds.map((o) => [o.osd.id, o.in]));
      await ctx.mutate((s, t) => {
        const rs = s as SandboxCephState & ReweightState;
        const osd = s.osds.find((o) => o.id === osdId)!;
        // Ceph stores weights in 16.16 fixed point; five decimals is what `osd tree` shows.
        const w = Math.round(weight * 1e5) / 1e5;
        if (osd.crush_weight === w) return;
        rs.device_weights ??= {};
        rs.device_weights[String(osdId)] ??= osd.crush_weight;
        const weightsNow = () => Object.fromEntries(s.osds.map((o) => [String(o.id), o.crush_weight]));
        rs.crush_epochs ??= [{ at: s.created_at, weights: weightsNow(), backfill_ms: 0 }];
        const prev = rs.crush_epochs[rs.crush_epochs.length - 1]!;
        osd.crush_weight = w;
        const next: CrushEpoch = { at: new Date(t).toISOString(), weights: weightsNow(), backfill_ms: 0 };
        const pools = poolsOf(s);
        const rw = new Map(s.osds.map((o) => [o.id, o.reweight]));
        const place = (e: CrushEpoch) =>
          placementFor(s, pools, (id) => (inOsd.get(id) ? (e.weights[String(id)] ?? 0) * (rw.get(id) ?? 1) : 0));
        next.backfill_ms = backfillMs(s, place(prev), place(next));
        rs.crush_epochs.push(next);
        if (rs.crush_epochs.length > MAX_EPOCHS) rs.crush_epochs.splice(0, rs.crush_epochs.length - MAX_EPOCHS);
      });
    },

    async pgPlacement(osdIds: number[]): Promise<CephPgPlacement> {
      const v = await ctx.cephView();
      for (const id of osdIds) osdOf(v, id);
      const rs = v.state as SandboxCephState & ReweightState;
      const unplaceable = new Set<string>();
      for (const id of osdIds) for (const pg of v.placement.stuckByOsd.get(id) ?? []) unplaceable.add(pg);
      const clean = v.pgStates.find((p) => p.state === 'active+clean')?.count ?? 0;
      return {
        osds: osdIds.map((id) => {
          const o = osdOf(v, id);
          return {
            osd_id: id,
            pgs: o.pgs,
            crush_weight: o.osd.crush_weight,
            device_weight: rs.device_weights?.[String(id)] ?? o.osd.crush_weight,
          };
        }),
        pgs_total: v.state.pg_num,
        pgs_active_clean: clean,
        pg_temp: v.placement.remapped + v.placement.stuck,
        states: v.pgStates.map((p) => ({ ...p })),
        unplaceable: [...unplaceable].slice(0, 20),
      };
    },

    async safeToDestroy(osdIds: number[]): Promise<CephSafeToDestroy> {
      const v = await ctx.cephView();
      const safe: number[] = [];
      const busy: string[] = [];
      for (const id of osdIds) {
        const o = osdOf(v, id);
        if (o.pgs === 0) safe.push(id);
        else busy.push(`osd.${id} has ${o.pgs} PGs currently mapped to it`);
      }
      return { safe, reason: busy.length ? busy.join('; ') : null };
    },

    async purgeOsd(osdId: number): Promise<void> {
      const v = await ctx.cephView();
      const o = v.osds.find((x) => x.osd.id === osdId);
      if (!o) return; // already purged
      if (o.up) {
        throw new DriverError(
          FAILURE.commandFailed,
          `Error EBUSY: osd.${osdId} is still up; must be down before removal.`,
          false,
        );
      }
      await ctx.mutate((st) => {
        st.osds = st.osds.filter((x) => x.id !== osdId);
        const rs = st as SandboxCephState & ReweightState;
        if (rs.device_weights) delete rs.device_weights[String(osdId)];
      });
    },

    async removeCrushHost(host: string): Promise<void> {
      const v = await ctx.cephView();
      if (!v.state.hosts.some((h) => h.hostname === host)) return;
      const left = v.state.osds.filter((o) => o.host === host).map((o) => `osd.${o.id}`);
      if (left.length) {
        throw new DriverError(
          FAILURE.commandFailed,
          `Error ENOTEMPTY: (39) Directory not empty: host ${host} still holds ${left.join(', ')}`,
          false,
        );
      }
      await ctx.mutate((st) => {
        st.hosts = st.hosts.filter((h) => h.hostname !== host);
        st.mons = st.mons.filter((h) => h !== host);
        st.mgrs = st.mgrs.filter((h) => h !== host);
        st.noout_hosts = st.noout_hosts.filter((h) => h !== host);
      });
    },
  };
}
