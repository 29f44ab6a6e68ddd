/**
 * CRUSH reweights, PG placement and safe-to-destroy over the ceph CLI. Lab facts this relies on
 * (LAB.md): PG stats lag up to 5 s behind the OSD map, so counts are read only after the OSDs
 * flushed their stats and the mgr holds them (CephCliContext.flushPgStats: one `tell osd.*
 * flush_pg_stats` and `pg dump osds` reads, whatever the number of OSDs); a backfill is not done
 * while `pg_temp` has entries; `safe-to-destroy -f json` exits 0 even when not safe, so its
 * `safe_to_destroy` list is the answer; a PG CRUSH cannot place has 2147483647 in its up set (or,
 * for replicated pools, fewer OSDs than the pool's size).
 */
import { FAILURE } from '../../lib/failures';
import { DriverError, type CephPgPlacement, type CephReweightOps, type CephSafeToDestroy } from '../types';
import type { CephCliContext } from './ceph-cli-context';
import { parseJsonArray, parseJsonObject } from './ceph-json';
import { forgetRecordedHost } from './ceph-packages-lifecycle';

export const CRUSH_ITEM_NONE = 2147483647;
const EAGAIN = 11;

function bad(what: string, detail: string): DriverError {
  return new DriverError(FAILURE.commandFailed, `unexpected ${what} output: ${detail}`, false);
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const ints = (v: unknown): number[] | null =>
  Array.isArray(v) && v.every((x) => Number.isInteger(x)) ? (v as number[]) : null;

export interface PgBrief {
  pgid: string;
  state: string;
  up: number[];
  acting: number[];
}

/**
 * `ceph pg dump pgs_brief -f json` (pacific: `{"pg_ready":…,"pg_stats":[…]}`; older releases print
 * the array alone) or a full `ceph pg dump -f json` (`pg_map.pg_stats`): pgid, state, up, acting.
 */
export function parsePgsBrief(stdout: string): PgBrief[] {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw bad('pg dump', `not JSON: ${JSON.stringify(stdout.trim().slice(0, 120))}`);
  }
  const list = Array.isArray(doc)
    ? doc
    : isObj(doc)
      ? (doc.pg_stats ?? (isObj(doc.pg_map) ? doc.pg_map.pg_stats : undefined))
      : undefined;
  if (!Array.isArray(list)) throw bad('pg dump', 'no pg_stats');
  return list.map((p, i) => {
    if (!isObj(p) || typeof p.pgid !== 'string' || typeof p.state !== 'string')
      throw bad('pg dump', `pg_stats[${i}] has no pgid/state`);
    const up = ints(p.up);
    const acting = ints(p.acting);
    if (!up || !acting) throw bad('pg dump', `pg ${p.pgid} has no up/acting sets`);
    return { pgid: p.pgid, state: p.state, up, acting };
  });
}

export interface OsdDumpPlacement {
  upOsds: number[];
  /** PG ids with a pg_temp entry (served from a temporary acting set until backfill ends). */
  pgTemp: string[];
  /** Pool id → size (replicas, or k+m for erasure pools). */
  poolSizes: Map<number, number>;
}

/** What `ceph osd dump -f json` says about placement: up OSDs, pg_temp, pool sizes. */
export function parseOsdDumpPlacement(stdout: string): OsdDumpPlacement {
  const doc = parseJsonObject('osd dump', stdout);
  if (!Array.isArray(doc.osds) || !Array.isArray(doc.pg_temp) || !Array.isArray(doc.pools)) {
    throw bad('osd dump', 'no osds, pools or pg_temp');
  }
  const upOsds = doc.osds
    .filter((o): o is Record<string, unknown> => isObj(o) && Number.isInteger(o.osd) && o.up === 1)
    .map((o) => o.osd as number);
  const pgTemp = doc.pg_temp
    .filter((t): t is Record<string, unknown> => isObj(t) && typeof t.pgid === 'string')
    .map((t) => t.pgid as string);
  const poolSizes = new Map<number, number>();
  for (const p of doc.pools)
    if (isObj(p) && Number.isInteger(p.pool) && Number.isInteger(p.size))
      poolSizes.set(p.pool as number, p.size as number);
  return { upOsds: upOsds.sort((a, b) => a - b), pgTemp, poolSizes };
}

/** `ceph osd df -f json`: each OSD's CRUSH weight and device size (kb) in TiB. */
export function parseOsdDfWeights(
  stdout: string,
): Map<number, { crush_weight: number; device_tib: number; pgs: number }> {
  const doc = parseJsonObject('osd df', stdout);
  if (!Array.isArray(doc.nodes)) throw bad('osd df', 'no nodes');
  const out = new Map<number, { crush_weight: number; device_tib: number; pgs: number }>();
  for (const n of doc.nodes) {
    if (!isObj(n) || !Number.isInteger(n.id) || typeof n.crush_weight !== 'number' || typeof n.kb !== 'number') {
      throw bad('osd df', 'a node without id, crush_weight or kb');
    }
    out.set(n.id as number, {
      crush_weight: n.crush_weight,
      device_tib: (n.kb * 1024) / 2 ** 40,
      pgs: typeof n.pgs === 'number' ? n.pgs : 0,
    });
  }
  return out;
}

/**
 * `ceph osd metadata -f json`: each OSD's data device size in TiB as bluestore reported it when the
 * OSD last booted (`bluestore_bdev_size`, bytes). The mons keep it while the OSD is down, when
 * `osd df` says 0 kb: a failed OSD's full weight is still known.
 */
export function parseMetadataDeviceTib(stdout: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of parseJsonArray('osd metadata', stdout)) {
    const bytes = Number(m.bluestore_bdev_size);
    if (Number.isInteger(m.id) && Number.isFinite(bytes) && bytes > 0) out.set(m.id as number, bytes / 2 ** 40);
  }
  return out;
}

/** `ceph osd safe-to-destroy … -f json`: exit 0 either way, the list is the verdict. */
export function parseSafeToDestroy(stdout: string): CephSafeToDestroy {
  const doc = parseJsonObject('osd safe-to-destroy', stdout);
  const safe = ints(doc.safe_to_destroy);
  if (!safe) throw bad('osd safe-to-destroy', 'no safe_to_destroy list');
  const reasons: string[] = [];
  const active = ints(doc.active) ?? [];
  const missing = ints(doc.missing_stats) ?? [];
  const stored = ints(doc.stored_pgs) ?? [];
  if (active.length) reasons.push(`PGs still mapped to ${active.map((i) => `osd.${i}`).join(', ')}`);
  if (missing.length) reasons.push(`no PG stats from ${missing.map((i) => `osd.${i}`).join(', ')}`);
  if (stored.length) reasons.push(`PGs still stored on ${stored.map((i) => `osd.${i}`).join(', ')}`);
  return { safe, reason: reasons.length ? reasons.join('; ') : null };
}

/** Counts PGs per OSD and the PGs CRUSH cannot place, from the brief PG list and pool sizes. */
export function summarisePlacement(
  pgs: PgBrief[],
  dump: OsdDumpPlacement,
  osdIds: number[],
): Omit<CephPgPlacement, 'osds'> & { pgsByOsd: Map<number, number> } {
  const pgsByOsd = new Map<number, number>(osdIds.map((id) => [id, 0]));
  const states = new Map<string, number>();
  const unplaceable: string[] = [];
  for (const pg of pgs) {
    states.set(pg.state, (states.get(pg.state) ?? 0) + 1);
    const holders = new Set([...pg.up, ...pg.acting].filter((o) => o !== CRUSH_ITEM_NONE));
    for (const id of osdIds) if (holders.has(id)) pgsByOsd.set(id, pgsByOsd.get(id)! + 1);
    const size = dump.poolSizes.get(Number(pg.pgid.split('.')[0]));
    const short = pg.up.includes(CRUSH_ITEM_NONE) || (size !== undefined && pg.up.length < size);
    if (short && osdIds.some((id) => holders.has(id)) && unplaceable.length < 20) unplaceable.push(pg.pgid);
  }
  return {
    pgsByOsd,
    pgs_total: pgs.length,
    pgs_active_clean: states.get('active+clean') ?? 0,
    pg_temp: dump.pgTemp.length,
    states: [...states].map(([state, count]) => ({ state, count })).sort((a, b) => b.count - a.count),
    unplaceable,
  };
}

/** CephReweightOps over the ceph CLI on the admin node (see CephCliContext). */
export function createCephCliReweightOps(ctx: CephCliContext): CephReweightOps {
  const { ceph, withSession, options } = ctx;

  function checkOsd(id: number): void {
    if (!Number.isInteger(id) || id < 0) throw new DriverError(FAILURE.commandFailed, `invalid OSD id ${id}`, false);
  }

  return {
    async setOsdInitialWeight(weight: number | null): Promise<void> {
      if (weight !== null && (!Number.isFinite(weight) || weight < 0))
        throw new DriverError(FAILURE.commandFailed, `invalid initial CRUSH weight ${weight}`, false);
      await withSession(options.adminShell, async (s) => {
        // `config rm` of an option that is not set exits 0: both are idempotent.
        if (weight === null) await ceph(s, ['config', 'rm', 'osd', 'osd_crush_initial_weight'], false);
        else await ceph(s, ['config', 'set', 'osd', 'osd_crush_initial_weight', String(weight)], false);
      });
    },

    async crushReweight(osdId: number, weight: number): Promise<void> {
      checkOsd(osdId);
      if (!Number.isFinite(weight) || weight < 0)
        throw new DriverError(FAILURE.commandFailed, `invalid CRUSH weight ${weight}`, false);
      const w = Math.round(weight * 1e5) / 1e5;
      await withSession(options.adminShell, async (s) => {
        await ceph(s, ['osd', 'crush', 'reweight', `osd.${osdId}`, w.toFixed(5)], false);
        // Read it back: an exit code is not proof (LAB.md); 16.16 fixed point rounds to ~1.5e-5.
        const now = parseOsdDfWeights(await ceph(s, ['osd', 'df'])).get(osdId);
        if (!now || Math.abs(now.crush_weight - w) > 1e-4) {
          throw new DriverError(
            FAILURE.commandFailed,
            `osd.${osdId} CRUSH weight reads ${now?.crush_weight ?? 'nothing'} after setting ${w}`,
            true,
          );
        }
      });
    },

    async pgPlacement(osdIds: number[]): Promise<CephPgPlacement> {
      osdIds.forEach(checkOsd);
      return withSession(options.adminShell, async (s) => {
        // One flush for every up OSD per poll; the map is read after it, so pg_temp is as fresh as the counts.
        await ctx.flushPgStats(s);
        const dump = parseOsdDumpPlacement(await ceph(s, ['osd', 'dump']));
        const pgs = parsePgsBrief(await ceph(s, ['pg', 'dump', 'pgs_brief']));
        const df = parseOsdDfWeights(await ceph(s, ['osd', 'df']));
        // A down OSD has no size in `osd df` (kb 0): its device's size from its metadata instead, so a
        // failed OSD's share of its disk is known (the replacement restores that share, issue 13).
        const sizeless = osdIds.filter((id) => df.get(id)?.device_tib === 0);
        const meta = sizeless.length ? parseMetadataDeviceTib(await ceph(s, ['osd', 'metadata'])) : new Map();
        const sum = summarisePlacement(pgs, dump, osdIds);
        return {
          osds: osdIds.map((id) => {
            const d = df.get(id);
            if (!d) throw new DriverError(FAILURE.commandFailed, `Error ENOENT: osd.${id} does not exist`, false);
            return {
              osd_id: id,
              pgs: sum.pgsByOsd.get(id) ?? 0,
              crush_weight: d.crush_weight,
              device_weight: d.device_tib || (meta.get(id) ?? 0),
            };
          }),
          pgs_total: sum.pgs_total,
          pgs_active_clean: sum.pgs_active_clean,
          pg_temp: sum.pg_temp,
          states: sum.states,
          unplaceable: sum.unplaceable,
        };
      });
    },

    async safeToDestroy(osdIds: number[]): Promise<CephSafeToDestroy> {
      osdIds.forEach(checkOsd);
      if (osdIds.length === 0) return { safe: [], reason: null };
      const args = ['osd', 'safe-to-destroy', ...osdIds.map(String)];
      return withSession(options.adminShell, async (s) => {
        const res = await s.exec(ctx.cephCommand(args, true), ctx.execOptions(args));
        if (res.code === EAGAIN) {
          throw new DriverError(
            FAILURE.cephUnavailable,
            `ceph osd safe-to-destroy cannot tell yet: ${res.stderr.trim().slice(0, 200)}`,
            true,
          );
        }
        if (res.code !== 0) throw ctx.cephFailure(args, res);
        return parseSafeToDestroy(res.stdout);
      });
    },

    async purgeOsd(osdId: number): Promise<void> {
      checkOsd(osdId);
      await withSession(options.adminShell, async (s) => {
        // Idempotent: an OSD the map no longer has was purged by an earlier attempt.
        if (!parseOsdLs(await ceph(s, ['osd', 'ls'])).includes(osdId)) return;
        await ceph(s, ['osd', 'purge', `osd.${osdId}`, '--yes-i-really-mean-it'], false);
        if (parseOsdLs(await ceph(s, ['osd', 'ls'])).includes(osdId)) {
          throw new DriverError(
            FAILURE.commandFailed,
            `osd.${osdId} is still in the OSD map after ceph osd purge`,
            true,
          );
        }
      });
    },

    async removeCrushHost(host: string): Promise<void> {
      ctx.checkName(host);
      await withSession(options.adminShell, async (s) => {
        // cephadm keeps its own host list: the host leaves it too, or the orchestrator would redeploy there.
        if (options.deployment === 'cephadm') await ceph(s, ['orch', 'host', 'rm', host, '--force'], false);
        // `crush remove` of a bucket that is gone exits 0 ("does not appear in the crush map").
        await ceph(s, ['osd', 'crush', 'remove', host], false);
        // The package deployer's own host list: the host leaves it too, or the next mon placement
        // would write ceph.conf to a machine that is no member any more.
        if (options.deployment !== 'cephadm') await forgetRecordedHost(ctx, s, host);
      });
    },
  };
}

/** `ceph osd ls -f json`: the OSD ids in the map. */
export function parseOsdLs(out: string): number[] {
  let v: unknown;
  try {
    v = JSON.parse(out);
  } catch {
    throw bad('osd ls', 'not JSON');
  }
  const ids = ints(v);
  if (!ids) throw bad('osd ls', 'not a list of ids');
  return ids;
}
