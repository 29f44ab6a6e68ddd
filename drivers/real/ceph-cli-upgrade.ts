/**
 * CephUpgradeOps over the ceph CLI on the admin node, and systemctl/apt on each host for the daemons
 * themselves (a package-based deployment: units `ceph-osd@N`, `ceph-mon@<id>`, `ceph-mgr@<id>`).
 *
 * - versions: `ceph versions -f json`; per daemon: `ceph mon|mgr|osd metadata -f json`
 *   (`ceph_version` and `hostname` of every daemon the maps know, running or not).
 * - mgr: `ceph mgr dump -f json` (active_name, standbys[].name), `ceph mgr fail`.
 * - mon: `ceph mon ok-to-stop <id>` — rc 0 = quorum survives, 16 (EBUSY) = it would not.
 * - autoscale: a per-pool freeze recorded in the cluster (config-key AUTOSCALE_FREEZE_KEY), on every
 *   release; the global `noautoscale` flag is only read (an operator's own freeze). See
 *   docs/upgrades.md §PG autoscaling for why (Pacific's flag turns every pool's mode to `on` when unset).
 * - upgrade: `apt-get install --only-upgrade` of the Ceph packages the daemon needs (the target
 *   release comes from the host's configured Ceph apt repository), then `systemctl restart`; restart
 *   mode only restarts. With os_packages, `apt-get dist-upgrade`, and /var/run/reboot-required says
 *   whether the host must reboot.
 */
import { FAILURE } from '../../lib/failures';
import { parseCephVersion, satisfiesTarget } from '../../lib/ceph-releases';
import { shellQuote, tail } from '../driver-errors';
import {
  DriverError,
  type CephDaemonVersion,
  type CephMgrMap,
  type CephUpgradeOps,
  type CephUpgradeSpec,
  type CephVersionCounts,
  type ExecResult,
  type OkToStop,
  type ShellSession,
} from '../types';
import { defaultOsdUnit, type CephCliContext } from './ceph-cli-context';
import { parseJsonList, parseJsonObject } from './ceph-json';
import { parsePoolsDetail } from './ceph-cli-pools';
import { CEPH_IMAGES } from './ceph-cli-lifecycle';
import { APT, ensureRelease, type CephPackageRole } from './ceph-packages';

const EBUSY = 16;
const ENOENT = 2;
const EINVAL = 22;

function bad(what: string, detail: string): DriverError {
  return new DriverError(FAILURE.commandFailed, `unexpected ${what} output: ${detail}`, false);
}

function counts(what: string, v: unknown): Record<string, number> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(what, 'a section is not an object');
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(v as Record<string, unknown>)) {
    if (typeof n !== 'number' || !Number.isInteger(n)) throw bad(what, `count of ${k} is not an integer`);
    out[k] = n;
  }
  return out;
}

/** `ceph versions -f json`. */
export function parseCephVersions(stdout: string): CephVersionCounts {
  const doc = parseJsonObject('versions', stdout);
  if (!('overall' in doc)) throw bad('versions', 'no overall section');
  return {
    mon: counts('versions', doc.mon),
    mgr: counts('versions', doc.mgr),
    osd: counts('versions', doc.osd),
    overall: counts('versions', doc.overall),
  };
}

/** `ceph mon|mgr|osd metadata -f json`: an array of objects with ceph_version and hostname. */
export function parseDaemonMetadata(type: 'mon' | 'mgr' | 'osd', stdout: string): CephDaemonVersion[] {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw bad(`${type} metadata`, 'not JSON');
  }
  if (!Array.isArray(doc)) throw bad(`${type} metadata`, 'not a JSON array');
  return doc.map((entry: unknown) => {
    const e = (entry ?? {}) as Record<string, unknown>;
    const id = type === 'osd' ? e.id : e.name;
    if (
      (typeof id !== 'string' && typeof id !== 'number') ||
      typeof e.hostname !== 'string' ||
      typeof e.ceph_version !== 'string'
    ) {
      throw bad(`${type} metadata`, 'an entry lacks its id, hostname or ceph_version');
    }
    const p = parseCephVersion(e.ceph_version);
    return {
      type,
      id: String(id),
      host: e.hostname,
      version: p?.version ?? e.ceph_version,
      release: p?.release ?? 'unknown',
    };
  });
}

/** `ceph mgr dump -f json`. */
export function parseMgrDump(stdout: string): CephMgrMap {
  const doc = parseJsonObject('mgr dump', stdout);
  if (typeof doc.available !== 'boolean') throw bad('mgr dump', 'no available flag');
  const active = typeof doc.active_name === 'string' && doc.active_name !== '' ? doc.active_name : null;
  if (!Array.isArray(doc.standbys)) throw bad('mgr dump', 'no standbys list');
  const standbys = doc.standbys
    .map((s: unknown) => (s && typeof s === 'object' ? (s as Record<string, unknown>).name : undefined))
    .filter((n): n is string => typeof n === 'string');
  return { active, standbys, available: doc.available };
}

/**
 * `ceph osd pool get noautoscale`: `{"noautoscale": true}` with -f json on releases that print JSON;
 * Pacific (16.2.15, verified) ignores -f json, prints an empty line on stdout and "noautoscale is on"
 * on stderr, so both streams are read.
 */
export function parseNoAutoscale(stdout: string, stderr = ''): boolean {
  const text = stdout.trim();
  if (text.startsWith('{')) {
    const v = parseJsonObject('osd pool get noautoscale', text).noautoscale;
    if (typeof v === 'boolean') return v;
    throw bad('osd pool get noautoscale', 'noautoscale is not a boolean');
  }
  const m = /noautoscale is (on|off)/.exec(`${text}\n${stderr}`);
  if (!m) throw bad('osd pool get noautoscale', JSON.stringify(`${text} ${stderr.trim()}`.trim().slice(0, 120)));
  return m[1] === 'on';
}

/**
 * Whether a failed `ceph osd pool get noautoscale` means "this release has no global flag": the mon
 * answers EINVAL "invalid command" (before 16.2.7 the words parse as `osd pool get <pool> <var>`
 * without its var; the lab's 16.2.15 prints that error for `osd pool get labdata`).
 */
export function isUnknownCommand(res: ExecResult): boolean {
  return res.code === EINVAL && /invalid command|no valid command found/i.test(res.stderr);
}

/** Where NodeFoundry records a per-pool autoscale freeze, inside the cluster (`ceph config-key`). */
export const AUTOSCALE_FREEZE_KEY = 'nodefoundry/autoscale-frozen';

/** What a freeze recorded: every pool whose autoscaler was on or warn before, by id (names can change). */
export interface AutoscaleFreeze {
  version: 1;
  pools: { id: number; name: string; mode: 'on' | 'warn' }[];
}

/** The value of AUTOSCALE_FREEZE_KEY (`ceph config-key get` prints it raw on stdout). */
export function parseAutoscaleFreeze(stdout: string): AutoscaleFreeze {
  const doc = parseJsonObject(`config-key get ${AUTOSCALE_FREEZE_KEY}`, stdout);
  if (doc.version !== 1 || !Array.isArray(doc.pools))
    throw bad(`config-key get ${AUTOSCALE_FREEZE_KEY}`, 'not a freeze record (version 1, pools)');
  const pools = doc.pools.map((p: unknown) => {
    const e = (p ?? {}) as Record<string, unknown>;
    if (!Number.isInteger(e.id) || typeof e.name !== 'string' || (e.mode !== 'on' && e.mode !== 'warn')) {
      throw bad(`config-key get ${AUTOSCALE_FREEZE_KEY}`, 'a pool entry lacks id, name or mode (on|warn)');
    }
    return { id: e.id as number, name: e.name, mode: e.mode as 'on' | 'warn' };
  });
  return { version: 1, pools };
}

/** `ceph mon ok-to-stop <id>`: rc 0 = ok; rc 16 (EBUSY) = not ok, Ceph's reason on stderr. */
export function interpretMonOkToStop(res: ExecResult, otherFailure: () => DriverError): OkToStop {
  if (res.code === 0) return { ok: true, reason: null };
  if (res.code === EBUSY) {
    const line = `${res.stderr}\n${res.stdout}`
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '');
    return { ok: false, reason: (line ?? 'quorum would be lost').replace(/^Error E[A-Z]+:\s*/, '').slice(0, 300) };
  }
  throw otherFailure();
}

/** `ceph osd ls-tree <host> -f json`: the OSD ids under a CRUSH bucket. */
export function parseOsdLsTree(stdout: string): number[] {
  const doc = parseJsonList('osd ls-tree', stdout);
  if (!doc.every((n) => Number.isInteger(n))) throw bad('osd ls-tree', 'not a list of OSD ids');
  return doc as number[];
}

/** The container image of a release ("tentacle") or version ("20.2.4") for cephadm. */
export function imageFor(target: string): string {
  const p = parseCephVersion(target);
  if (!p) throw new DriverError(FAILURE.commandFailed, `unknown Ceph release or version ${target}`, false);
  if (p.version) return `quay.io/ceph/ceph:v${p.version}`;
  const image = CEPH_IMAGES[p.release];
  if (!image) throw new DriverError(FAILURE.commandFailed, `no container image for Ceph ${p.release}`, false);
  return image;
}

export function createCephCliUpgradeOps(ctx: CephCliContext): CephUpgradeOps {
  const { options, sudo, timeoutMs } = ctx;
  const cephadm = options.deployment === 'cephadm';
  const aptSources = options.packages?.aptSources ?? {};
  /** The target release's packages for these daemon types (docs/clusters.md §Deployers: apt sources). */
  const ensurePackages = (s: ShellSession, host: string, target: string, roles: CephPackageRole[]) =>
    ensureRelease(s, { host, target, roles, aptSources, mode: 'upgrade', sudo, timeoutMs });
  const unit = {
    mon: (id: string) => `ceph-mon@${id}`,
    mgr: (id: string) => `ceph-mgr@${id}`,
    osd: (id: number) => (options.osdUnit ?? defaultOsdUnit(options))(id),
  };

  const admin = <T>(fn: (s: ShellSession) => Promise<T>) => ctx.withSession(options.adminShell, fn);
  const onHost = <T>(host: string, fn: (s: ShellSession) => Promise<T>) => {
    ctx.checkName(host);
    return ctx.withSession(() => options.hostShell(host), fn);
  };

  async function metadata(type: 'mon' | 'mgr' | 'osd'): Promise<CephDaemonVersion[]> {
    return admin(async (s) => parseDaemonMetadata(type, await ctx.ceph(s, [type, 'metadata'])));
  }

  /** The mon/mgr id of the daemon on `host` (package installs name it after the short hostname). */
  async function daemonId(type: 'mon' | 'mgr', host: string): Promise<string> {
    const d = (await metadata(type)).find((x) => x.host === host || x.id === host);
    // A mgr just failed over (`ceph mgr fail`) respawns and is missing from `ceph mgr metadata` until
    // it registers again as a standby (~5 s on 16.2.15): the upgrade restarts it right after the
    // failover, so that absence is worth retrying. A mon missing from the monmap is not.
    if (!d) throw new DriverError(FAILURE.commandFailed, `no ${type} daemon on ${host}`, type === 'mgr');
    return d.id;
  }

  async function systemctl(s: ShellSession, verb: 'stop' | 'start' | 'restart', units: string[]): Promise<void> {
    if (units.length === 0) return;
    await s.run(`${sudo}systemctl ${verb} ${units.map(shellQuote).join(' ')}`, { timeoutMs });
  }

  /** The recorded freeze, or null when there is none (`config-key get` exits 2, ENOENT). */
  async function readFreeze(s: ShellSession): Promise<AutoscaleFreeze | null> {
    const args = ['config-key', 'get', AUTOSCALE_FREEZE_KEY];
    const res = await s.exec(ctx.cephCommand(args, false), ctx.execOptions(args));
    if (res.code === ENOENT) return null;
    if (res.code !== 0) throw ctx.cephFailure(args, res);
    return parseAutoscaleFreeze(res.stdout);
  }

  /** `ceph osd pool set <pool> pg_autoscale_mode <mode>`; a pool deleted meanwhile (ENOENT) is skipped. */
  async function setMode(s: ShellSession, pool: string, mode: 'on' | 'warn' | 'off'): Promise<void> {
    const args = ['osd', 'pool', 'set', pool, 'pg_autoscale_mode', mode];
    const res = await s.exec(ctx.cephCommand(args, false), ctx.execOptions(args));
    if (res.code !== 0 && res.code !== ENOENT) throw ctx.cephFailure(args, res);
  }

  /** Whether `ceph <type> metadata` shows the daemon `id` running the target of `spec`. */
  async function runsTarget(type: 'mon' | 'mgr', id: string, spec: CephUpgradeSpec): Promise<boolean> {
    const target = parseCephVersion(spec.version);
    const d = (await metadata(type)).find((x) => x.id === id);
    const running = d ? parseCephVersion(d.version) : null;
    return !!(target && running && satisfiesTarget(running, target));
  }

  /**
   * Waits (bounded) until the restarted daemon reports the target: right after a mgr restart
   * `ceph mgr metadata` still shows the old `ceph_version` (spike pitfall 8), and a caller that went
   * on (a failover) would act on a daemon that has not come back. False when the bound passed.
   */
  async function waitForTarget(type: 'mon' | 'mgr', id: string, spec: CephUpgradeSpec): Promise<boolean> {
    const deadline = Date.now() + (options.versionWaitMs ?? 60_000);
    for (;;) {
      if (await runsTarget(type, id, spec).catch(() => false)) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, options.versionPollMs ?? 1_000));
    }
  }

  function checkOsdIds(osdIds: number[]): void {
    for (const id of osdIds)
      if (!Number.isInteger(id) || id < 0) throw new DriverError(FAILURE.commandFailed, `invalid OSD id ${id}`, false);
  }

  return {
    async versions(): Promise<CephVersionCounts> {
      return admin(async (s) => parseCephVersions(await ctx.ceph(s, ['versions'])));
    },

    async daemonVersions(): Promise<CephDaemonVersion[]> {
      return [...(await metadata('mon')), ...(await metadata('mgr')), ...(await metadata('osd'))];
    },

    async mgrMap(): Promise<CephMgrMap> {
      return admin(async (s) => parseMgrDump(await ctx.ceph(s, ['mgr', 'dump'])));
    },

    async failMgr(): Promise<void> {
      await admin((s) => ctx.ceph(s, ['mgr', 'fail'], false));
    },

    async monOkToStop(host: string): Promise<OkToStop> {
      const id = await daemonId('mon', host);
      const args = ['mon', 'ok-to-stop', id];
      return admin(async (s) => {
        const res = await s.exec(ctx.cephCommand(args, false), ctx.execOptions(args));
        return interpretMonOkToStop(res, () => ctx.cephFailure(args, res));
      });
    },

    /**
     * Freezing records the modes first (config-key, never overwritten: a retry after a partial freeze
     * keeps the original modes), then turns those pools `off`. Releasing restores each recorded pool
     * still `off` (deleted pools are skipped; a mode an operator changed meanwhile is left alone),
     * then removes the record. Both are idempotent, so an activity retry simply runs them again.
     */
    async setNoAutoscale(on: boolean): Promise<void> {
      await admin(async (s) => {
        let freeze = await readFreeze(s);
        if (!on && !freeze) return;
        const pools = parsePoolsDetail(await ctx.ceph(s, ['osd', 'pool', 'ls', 'detail']));
        if (on && !freeze) {
          freeze = {
            version: 1,
            pools: pools.flatMap((p) =>
              p.pg_autoscale_mode === 'off' ? [] : [{ id: p.id, name: p.name, mode: p.pg_autoscale_mode }],
            ),
          };
          await ctx.ceph(s, ['config-key', 'set', AUTOSCALE_FREEZE_KEY, JSON.stringify(freeze)], false);
        }
        for (const rec of freeze!.pools) {
          const pool = pools.find((p) => p.id === rec.id);
          if (!pool) continue;
          if (on ? pool.pg_autoscale_mode !== 'off' : pool.pg_autoscale_mode === 'off')
            await setMode(s, pool.name, on ? 'off' : rec.mode);
        }
        if (!on) await ctx.ceph(s, ['config-key', 'rm', AUTOSCALE_FREEZE_KEY], false);
      });
    },

    /** A NodeFoundry freeze is recorded, or the release's global noautoscale flag is on (an operator's). */
    async noAutoscale(): Promise<boolean> {
      return admin(async (s) => {
        if (await readFreeze(s)) return true;
        const args = ['osd', 'pool', 'get', 'noautoscale'];
        const res = await s.exec(ctx.cephCommand(args, true), ctx.execOptions(args));
        if (res.code === 0) return parseNoAutoscale(res.stdout, res.stderr);
        if (isUnknownCommand(res)) return false;
        throw ctx.cephFailure(args, res);
      });
    },

    async redeployDaemon(type: 'mon' | 'mgr', host: string, spec: CephUpgradeSpec): Promise<{ done: boolean }> {
      const id = await daemonId(type, host);
      // Upgrade mode: a daemon already at the target is left alone (a retry after the restart).
      if (spec.mode === 'upgrade' && (await runsTarget(type, id, spec))) return { done: true };
      if (cephadm) {
        // cephadm: the orchestrator swaps the daemon's container image (or restarts it).
        const args =
          spec.mode === 'upgrade'
            ? ['orch', 'daemon', 'redeploy', `${type}.${id}`, imageFor(spec.version)]
            : ['orch', 'daemon', 'restart', `${type}.${id}`];
        await admin((s) => ctx.ceph(s, args, false));
        if (spec.mode === 'upgrade') return { done: await waitForTarget(type, id, spec) };
        return { done: true };
      }
      await onHost(host, async (s) => {
        if (spec.mode === 'upgrade') await ensurePackages(s, host, spec.version, [type]);
        await systemctl(s, 'restart', [unit[type](id)]);
      });
      // Not done until Ceph reports the new version; past the bound the caller asks again.
      if (spec.mode === 'upgrade') return { done: await waitForTarget(type, id, spec) };
      return { done: true };
    },

    async stopHostOsds(host: string, osdIds: number[]): Promise<void> {
      checkOsdIds(osdIds);
      await onHost(host, (s) => systemctl(s, 'stop', osdIds.map(unit.osd)));
    },

    async upgradeHost(host: string, spec: CephUpgradeSpec): Promise<{ done: boolean; rebootRequired: boolean }> {
      if (cephadm && spec.mode === 'upgrade') {
        // cephadm: each OSD of the host gets the target image (the orchestrator starts it again).
        ctx.checkName(host);
        await admin(async (s) => {
          const ids = parseOsdLsTree(await ctx.ceph(s, ['osd', 'ls-tree', host]));
          for (const id of ids)
            await ctx.ceph(s, ['orch', 'daemon', 'redeploy', `osd.${id}`, imageFor(spec.version)], false);
        });
      }
      return onHost(host, async (s) => {
        const long = { timeoutMs: Math.max(timeoutMs, 1_800_000) };
        if (spec.osPackages) {
          await s.run(`${sudo}${APT} update`, long);
          await s.run(`${sudo}${APT} dist-upgrade`, long);
        }
        if (spec.mode === 'upgrade' && !cephadm) await ensurePackages(s, host, spec.version, ['osd']);
        const flag = await s.exec('test -f /var/run/reboot-required', { timeoutMs });
        if (flag.code > 1)
          throw new DriverError(
            FAILURE.commandFailed,
            `test -f /var/run/reboot-required: ${tail(flag.stderr, 300)}`,
            false,
          );
        return { done: true, rebootRequired: flag.code === 0 };
      });
    },

    async startHostOsds(host: string, osdIds: number[]): Promise<void> {
      checkOsdIds(osdIds);
      await onHost(host, (s) => systemctl(s, 'start', osdIds.map(unit.osd)));
    },

    async requireOsdRelease(release: string): Promise<{ release: string }> {
      const wanted = parseCephVersion(release)?.release;
      if (!wanted) throw new DriverError(FAILURE.commandFailed, `unknown Ceph release ${release}`, false);
      return admin(async (s) => {
        await ctx.ceph(s, ['osd', 'require-osd-release', wanted], false);
        const set = parseJsonObject('osd dump', await ctx.ceph(s, ['osd', 'dump'])).require_osd_release;
        if (set !== wanted)
          throw new DriverError(
            FAILURE.commandFailed,
            `ceph osd require-osd-release ${wanted} returned, but the OSD map says require_osd_release ${JSON.stringify(set)}`,
            false,
          );
        return { release: wanted };
      });
    },
  };
}
