/**
 * CephDriver over the `ceph` CLI, run through a ShellSession on the cluster's admin node, JSON output
 * parsed by ceph-json.ts. OSD daemons are stopped and started with systemctl on their own host.
 *
 * Facts from the lab this relies on: `ceph` hangs forever when the mons are unreachable unless given
 * `--connect-timeout`; `ok-to-stop` exits 16 (EBUSY) when not ok and 11 (EAGAIN) when PG states are
 * unknown (ask again later), printing JSON on stdout either way; `set-group` prints nothing.
 * PG statistics come from the mgr, which hears from each OSD only every mgr_stats_period (5 s by
 * default): right after a change `ceph status` still says "all active+clean". So every read that
 * counts PGs first makes the OSDs flush their stats and waits until the mgr has them (see
 * flushPgStats), and a PG with a pg_temp entry in the OSD map never counts as clean.
 */
import { FAILURE } from '../../lib/failures';
import { shellQuote, tail } from '../driver-errors';
import {
  DriverError,
  type CephCoreOps,
  type CephDriver,
  type CephOsd,
  type CephStatus,
  type ExecResult,
  type OkToStop,
  type ShellSession,
} from '../types';
import { createCephCliLifecycleOps, osdMetadataDevices } from './ceph-cli-lifecycle';
import { createCephCliPoolOps } from './ceph-cli-pools';
import { createCephPackagesLifecycleOps } from './ceph-packages-lifecycle';
import { createCephCliReweightOps } from './ceph-cli-reweight';
import { createCephCliUpgradeOps } from './ceph-cli-upgrade';
import {
  combineOsds,
  parseCephStatus,
  parseFlushPgStats,
  parseHealthFlags,
  parseJsonObject,
  parseOsdDf,
  parseOsdDfUsage,
  parseOsdDump,
  parseOsdStatSeqs,
  parseOsdTree,
  parseRemappedPgs,
} from './ceph-json';
import { cephReadLimit } from './ceph-read-limits';
import { defaultOsdUnit, type CephCliContext, type CephCliOptions } from './ceph-cli-context';

export type { CephCliContext, CephCliOptions } from './ceph-cli-context';

const EBUSY = 16;
const EAGAIN = 11;
const ENXIO = 6;
const ENOENT = 2;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function createCephCliDriver(options: CephCliOptions): CephDriver {
  const connectTimeout = options.connectTimeoutSec ?? 10;
  const timeoutMs = options.commandTimeoutMs ?? 60_000;
  const sudo = options.sudo ? 'sudo -n ' : '';
  const osdUnit = options.osdUnit ?? defaultOsdUnit(options);
  const pgStatsFlushMs = options.pgStatsFlushMs ?? 10_000;

  async function withSession<T>(open: () => Promise<ShellSession>, fn: (s: ShellSession) => Promise<T>): Promise<T> {
    const session = await open();
    try {
      return await fn(session);
    } finally {
      session.close();
    }
  }

  function cephCommand(args: string[], json: boolean): string {
    return `${sudo}ceph --connect-timeout ${connectTimeout} ${args.map(shellQuote).join(' ')}${json ? ' -f json' : ''}`;
  }

  /** Failures every ceph call shares: no quorum (retry later), no CLI, anything else. */
  function cephFailure(args: string[], res: ExecResult): DriverError {
    const detail = tail(res.stderr, 500) || tail(res.stdout, 500);
    const what = `ceph ${args.join(' ')}`;
    if (res.code === 127)
      return new DriverError(FAILURE.cephUnavailable, `${what}: ceph CLI not found on the admin node`, false);
    if (res.code === EAGAIN || /timed out|error connecting to the cluster|ETIMEDOUT|EAGAIN/i.test(detail)) {
      return new DriverError(FAILURE.cephUnavailable, `${what}: cluster not answering: ${detail}`, true);
    }
    return new DriverError(FAILURE.commandFailed, `${what} exited with ${res.code}: ${detail}`, false);
  }

  /** The exec options of `ceph <args>`: the command bound and the read's own output limit. */
  function execOptions(args: string[]): { timeoutMs: number; maxOutputBytes: number } {
    return { timeoutMs, maxOutputBytes: cephReadLimit(args) };
  }

  async function ceph(s: ShellSession, args: string[], json = true): Promise<string> {
    const res = await s.exec(cephCommand(args, json), execOptions(args));
    if (res.code !== 0) throw cephFailure(args, res);
    return res.stdout;
  }

  function checkName(host: string): void {
    if (!SAFE_NAME.test(host))
      throw new DriverError(FAILURE.commandFailed, `invalid CRUSH host name ${JSON.stringify(host)}`, false);
  }

  async function systemctl(host: string, verb: 'stop' | 'start', osdIds: number[]): Promise<void> {
    checkName(host);
    if (osdIds.length === 0) return;
    for (const id of osdIds) {
      if (!Number.isInteger(id) || id < 0) throw new DriverError(FAILURE.commandFailed, `invalid OSD id ${id}`, false);
    }
    await withSession(
      () => options.hostShell(host),
      (s) => s.run(`${sudo}systemctl ${verb} ${osdIds.map((id) => shellQuote(osdUnit(id))).join(' ')}`, { timeoutMs }),
    );
  }

  /**
   * Makes the mgr's PG statistics current: `tell osd.* flush_pg_stats` has every up OSD send its
   * stats now and print the sequence number it sent (an OSD that is down makes the command exit
   * ENXIO, the others still answer); then `pg dump osds` is read until the mgr holds each of those
   * sequence numbers. One CLI call per step whatever the cluster size. Best effort past the bound
   * or when the dump cannot be read (e.g. too large): the caller still gets an answer, as fresh as
   * the mgr's.
   */
  async function flushPgStats(s: ShellSession): Promise<void> {
    if (pgStatsFlushMs <= 0) return;
    const args = ['tell', 'osd.*', 'flush_pg_stats'];
    const res = await s.exec(cephCommand(args, false), execOptions(args));
    const flushed = parseFlushPgStats(res.stdout);
    if (res.code !== 0 && res.code !== ENXIO && !(res.code === ENOENT && flushed.size === 0))
      throw cephFailure(args, res);
    if (flushed.size === 0) return;
    const deadline = Date.now() + pgStatsFlushMs;
    for (;;) {
      const dumpArgs = ['pg', 'dump', 'osds'];
      // Over its limit (far past 5,000 OSDs) the flush is best effort, as for any unreadable dump.
      const dump = await s.exec(cephCommand(dumpArgs, true), execOptions(dumpArgs)).catch((err: unknown) => {
        if (err instanceof DriverError && err.type === FAILURE.outputTruncated) return null;
        throw err;
      });
      if (!dump) return;
      if (dump.code !== 0) throw cephFailure(['pg', 'dump', 'osds'], dump);
      const seen = parseOsdStatSeqs(dump.stdout);
      if (!seen) return;
      if ([...flushed].every(([id, seq]) => (seen.get(id) ?? 0) >= seq)) return;
      if (Date.now() >= deadline) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Right after a restart or a mgr failover, ok-to-stop can say yes having counted no PG at all
   * (`"num_ok_pgs":0,"num_not_ok_pgs":0`) from the new mgr's incomplete PG map (reef-tentacle spike,
   * pitfall 9; the sample is test/fixtures/ceph/ok_to_stop_incomplete_pgmap_tentacle.json). That yes
   * is only believed when the mgr knows every PG of the OSD map and all are active+clean (an OSD
   * that really holds none); otherwise it is a retryable "cannot tell yet", asked again later.
   * Also believed when the OSD map has every one of them down: a down OSD is in no PG's up set, so
   * none is counted and stopping it changes nothing (a host whose OSDs failed to start, retried on
   * resume: its PGs are undersized, never clean, until those OSDs are back).
   */
  async function assertPgMapComplete(s: ShellSession, osdIds: number[]): Promise<void> {
    const dumpText = await ceph(s, ['osd', 'dump']);
    const dump = parseJsonObject('osd dump', dumpText);
    const down = new Set(
      (Array.isArray(dump.osds) ? dump.osds : [])
        .filter((o): o is Record<string, unknown> => !!o && typeof o === 'object' && (o as { up?: unknown }).up === 0)
        .map((o) => o.osd),
    );
    if (osdIds.every((id) => down.has(id))) return;
    const pools = dump.pools;
    const expected = (Array.isArray(pools) ? pools : []).reduce<number>((sum, p: unknown) => {
      const n = p && typeof p === 'object' ? (p as Record<string, unknown>).pg_num : undefined;
      return sum + (typeof n === 'number' ? n : 0);
    }, 0);
    if (expected === 0) return;
    const st = parseCephStatus(await ceph(s, ['status']), parseOsdDump(dumpText));
    if (st.pgs_total >= expected && st.pgs_active_clean === st.pgs_total) return;
    throw new DriverError(
      FAILURE.cephUnavailable,
      `ceph osd ok-to-stop ${osdIds.join(' ')} counted no PGs while the mgr knows ${st.pgs_active_clean} of ${expected} PGs active+clean (an incomplete PG map after a restart or mgr failover): ask again once it is complete`,
      true,
    );
  }

  const ctx: CephCliContext = {
    options,
    ceph,
    execOptions,
    cephCommand,
    cephFailure,
    withSession,
    checkName,
    sudo,
    timeoutMs,
    flushPgStats,
  };
  const core: CephCoreOps = {
    async status(): Promise<CephStatus> {
      return withSession(options.adminShell, async (s) => {
        await flushPgStats(s);
        // Narrow reads (issue 14): the flags from `health detail`, pg_temp's count from the status
        // itself; never the whole `osd dump` (~4.6 MiB at 5,000 OSDs).
        const status = await ceph(s, ['status']);
        const flags = parseHealthFlags(await ceph(s, ['health', 'detail']));
        return parseCephStatus(status, { ...flags, pgTemp: parseRemappedPgs(status) });
      });
    },

    async osds(): Promise<CephOsd[]> {
      return withSession(options.adminShell, async (s) => {
        await flushPgStats(s);
        const tree = parseOsdTree(await ceph(s, ['osd', 'tree']));
        const df = await ceph(s, ['osd', 'df']);
        const pgs = parseOsdDf(df);
        // The device of each OSD, where its metadata names one on the host the tree shows.
        const meta = osdMetadataDevices(await ceph(s, ['osd', 'metadata']));
        return combineOsds(tree, pgs, parseOsdDfUsage(df)).map((o) => {
          const m = meta.get(o.id);
          return m && m.host === o.host && m.device ? { ...o, device: m.device } : o;
        });
      });
    },

    async okToStop(osdIds: number[]): Promise<OkToStop> {
      if (osdIds.length === 0) return { ok: true, reason: null };
      const args = ['osd', 'ok-to-stop', ...osdIds.map((id) => String(id))];
      return withSession(options.adminShell, async (s) => {
        // The mgr decides from its PG map: a stale one can call a PG clean that just lost a copy.
        await flushPgStats(s);
        const res = await s.exec(cephCommand(args, true), execOptions(args));
        const verdict = interpretOkToStop(res, () => cephFailure(args, res));
        if (verdict.ok && countedNoPgs(res.stdout)) await assertPgMapComplete(s, osdIds);
        return verdict;
      });
    },

    async setGroupNoout(host: string): Promise<void> {
      checkName(host);
      await withSession(options.adminShell, (s) => ceph(s, ['osd', 'set-group', 'noout', host], false));
    },

    async unsetGroupNoout(host: string): Promise<void> {
      checkName(host);
      await withSession(options.adminShell, (s) => ceph(s, ['osd', 'unset-group', 'noout', host], false));
    },

    async nooutHosts(): Promise<string[]> {
      // `health detail`'s OSD_FLAGS lists each CRUSH node carrying a flag (~2 KiB), not the OSD map.
      return withSession(
        options.adminShell,
        async (s) => parseHealthFlags(await ceph(s, ['health', 'detail'])).nooutHosts,
      );
    },

    async stopOsds(host: string, osdIds: number[]): Promise<void> {
      await systemctl(host, 'stop', osdIds);
    },

    async startOsds(host: string, osdIds: number[]): Promise<void> {
      await systemctl(host, 'start', osdIds);
    },
  };
  return {
    ...core,
    ...(options.deployment === 'cephadm' ? createCephCliLifecycleOps(ctx) : createCephPackagesLifecycleOps(ctx)),
    ...createCephCliPoolOps(ctx),
    ...createCephCliReweightOps(ctx),
    ...createCephCliUpgradeOps(ctx),
  };
}

/**
 * `ceph osd ok-to-stop`: rc 0 = ok; rc 16 (EBUSY) = not ok, with Ceph's reason on stderr; rc 11
 * (EAGAIN) = PG states unknown, retryable. The JSON verdict is checked too, so an rc 0 that says
 * `"ok_to_stop": false` is still a no.
 */
export function interpretOkToStop(res: ExecResult, otherFailure: () => DriverError): OkToStop {
  if (res.code === EAGAIN) {
    throw new DriverError(
      FAILURE.cephUnavailable,
      `ceph osd ok-to-stop cannot tell yet: ${reasonOf(res) ?? 'EAGAIN'}`,
      true,
    );
  }
  if (res.code === 0 || res.code === EBUSY) {
    let verdict: unknown;
    try {
      verdict = parseJsonObject('osd ok-to-stop', res.stdout).ok_to_stop;
    } catch (err) {
      if (res.code === 0) throw err;
    }
    if (res.code === 0 && verdict !== false) return { ok: true, reason: null };
    return { ok: false, reason: reasonOf(res) ?? 'unsafe to stop osd(s) at this time' };
  }
  throw otherFailure();
}

/** An ok-to-stop verdict that counted no PG either way (`num_ok_pgs` and `num_not_ok_pgs` both 0). */
export function countedNoPgs(stdout: string): boolean {
  try {
    const doc = parseJsonObject('osd ok-to-stop', stdout);
    return doc.num_ok_pgs === 0 && doc.num_not_ok_pgs === 0;
  } catch {
    return false;
  }
}

/** Ceph's "Error EBUSY: <reason>" line, without the prefix. */
function reasonOf(res: ExecResult): string | null {
  const line = res.stderr
    .split('\n')
    .map((l) => l.trim())
    .find((l) => /^Error E[A-Z]+:/.test(l));
  return line ? line.replace(/^Error E[A-Z]+:\s*/, '').slice(0, 300) : null;
}
