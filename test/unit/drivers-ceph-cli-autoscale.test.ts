import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freezeAutoscaleOnce } from '../../activities/upgrade.activities';
import { createCephCliDriver } from '../../drivers/real/ceph-cli';
import {
  AUTOSCALE_FREEZE_KEY,
  isUnknownCommand,
  parseAutoscaleFreeze,
  parseNoAutoscale,
} from '../../drivers/real/ceph-cli-upgrade';
import { DriverError, type ExecResult, type ShellSession } from '../../drivers/types';

const fixture = (name: string) => readFileSync(path.resolve(__dirname, '../fixtures/ceph', name), 'utf8');

/** Splits a command line as the shell would for what shellQuote produces (bare words, '…' with '\''). */
function words(command: string): string[] {
  const out: string[] = [];
  const re = /'((?:[^']|'\\'')*)'|(\S+)/g;
  for (let m = re.exec(command); m; m = re.exec(command))
    out.push(m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]!);
  return out;
}

type Mode = 'on' | 'warn' | 'off';

/**
 * A stateful admin node answering the ceph commands the autoscale freeze uses, with Pacific 16.2.15's
 * real outputs (fixtures): `osd pool ls detail` is the lab's capture with the current modes written
 * in, config-key get/set/rm behave (and fail) as the lab's mon did, `osd pool get noautoscale` prints
 * to stderr. `failNext` makes the next matching command fail like a lost connection.
 */
class PacificAdmin {
  readonly commands: string[][] = [];
  configKeys = new Map<string, string>();
  pools: { id: number; name: string; mode: Mode }[];
  globalFlag: boolean | 'unsupported' = false;
  failNext: ((args: string[]) => boolean) | null = null;
  private readonly detail = JSON.parse(fixture('pool_ls_detail_autoscale_modes.json')) as Record<string, unknown>[];

  constructor() {
    // The capture: device_health_metrics "on", labdata "warn".
    this.pools = this.detail.map((p) => ({
      id: p.pool_id as number,
      name: p.pool_name as string,
      mode: p.pg_autoscale_mode as Mode,
    }));
  }

  mode(name: string): Mode | undefined {
    return this.pools.find((p) => p.name === name)?.mode;
  }

  addPool(id: number, name: string, mode: Mode): void {
    this.pools.push({ id, name, mode });
  }

  answer(command: string): ExecResult {
    const w = words(command);
    expect(w.slice(0, 3)).toEqual(['ceph', '--connect-timeout', '10']);
    const json = w.at(-2) === '-f' && w.at(-1) === 'json';
    const args = w.slice(3, json ? -2 : undefined);
    this.commands.push(args);
    if (this.failNext?.(args)) {
      this.failNext = null;
      return { code: 110, stdout: '', stderr: 'Error ETIMEDOUT: timed out\n' };
    }
    const [a, b, c, d, e, f] = args;
    if (a === 'config-key' && b === 'get') {
      const v = this.configKeys.get(c!);
      return v === undefined
        ? { code: 2, stdout: '', stderr: fixture('config_key_get_missing.stderr.txt') }
        : { code: 0, stdout: v, stderr: '' };
    }
    if (a === 'config-key' && b === 'set') {
      this.configKeys.set(c!, d!);
      return { code: 0, stdout: '', stderr: `set ${c}\n` };
    }
    if (a === 'config-key' && b === 'rm') {
      this.configKeys.delete(c!);
      return { code: 0, stdout: '', stderr: 'key deleted\n' };
    }
    if (args.join(' ') === 'osd pool ls detail' && json) {
      const live = this.pools.map((p) => ({
        ...(this.detail.find((x) => x.pool_id === p.id) ?? { ...this.detail[1], pool_id: p.id }),
        pool_name: p.name,
        pg_autoscale_mode: p.mode,
      }));
      return { code: 0, stdout: `\n${JSON.stringify(live)}\n`, stderr: '' };
    }
    if (args.join(' ') === 'osd pool get noautoscale') {
      if (this.globalFlag === 'unsupported')
        return { code: 22, stdout: '', stderr: fixture('invalid_command_missing_var.stderr.txt') };
      return { code: 0, stdout: '\n', stderr: `noautoscale is ${this.globalFlag ? 'on' : 'off'}\n` };
    }
    if (a === 'osd' && b === 'pool' && c === 'set' && e === 'pg_autoscale_mode') {
      const pool = this.pools.find((p) => p.name === d);
      if (!pool) return { code: 2, stdout: '', stderr: fixture('pool_set_unknown_pool.stderr.txt') };
      pool.mode = f as Mode;
      return { code: 0, stdout: '', stderr: `set pool ${pool.id} pg_autoscale_mode to ${f}\n` };
    }
    return { code: 22, stdout: '', stderr: `unexpected command in test: ${args.join(' ')}\n` };
  }

  driver() {
    const open = async (): Promise<ShellSession> => ({
      hostKeyFingerprint: 'SHA256:fake',
      exec: async (command: string) => this.answer(command),
      run: async () => {
        throw new Error('not used');
      },
      close: () => undefined,
    });
    return createCephCliDriver({ adminShell: open, hostShell: open });
  }

  /** Pool-mode changes, in order, as `name=mode`. */
  modeChanges(): string[] {
    return this.commands.filter((c) => c[2] === 'set' && c[4] === 'pg_autoscale_mode').map((c) => `${c[3]}=${c[5]}`);
  }
}

describe('autoscale freeze parsers (real Ceph 16.2.15 output)', () => {
  it('osd pool get noautoscale: Pacific prints the answer on stderr and an empty line on stdout, even with -f json', () => {
    expect(
      parseNoAutoscale(
        fixture('noautoscale_get_on_pacific.stdout.txt'),
        fixture('noautoscale_get_on_pacific.stderr.txt'),
      ),
    ).toBe(true);
    expect(() => parseNoAutoscale(fixture('noautoscale_get_on_pacific.stdout.txt'))).toThrow(DriverError);
    expect(parseNoAutoscale('{"noautoscale":false}')).toBe(false);
  });

  it('a release without the global flag answers EINVAL invalid command; other failures are not that', () => {
    expect(isUnknownCommand({ code: 22, stdout: '', stderr: fixture('invalid_command_missing_var.stderr.txt') })).toBe(
      true,
    );
    expect(isUnknownCommand({ code: 2, stdout: '', stderr: fixture('pool_set_unknown_pool.stderr.txt') })).toBe(false);
    expect(isUnknownCommand({ code: 110, stdout: '', stderr: 'Error ETIMEDOUT: timed out' })).toBe(false);
  });

  it('the freeze record', () => {
    expect(parseAutoscaleFreeze('{"version":1,"pools":[{"id":2,"name":"labdata","mode":"warn"}]}')).toEqual({
      version: 1,
      pools: [{ id: 2, name: 'labdata', mode: 'warn' }],
    });
    expect(() => parseAutoscaleFreeze('{"version":1,"pools":[{"id":2,"name":"labdata","mode":"off"}]}')).toThrow(
      DriverError,
    );
    expect(() => parseAutoscaleFreeze('{"pools":[]}')).toThrow(DriverError);
  });
});

describe('PG autoscale freeze over the ceph CLI (Pacific admin node)', () => {
  it('freeze records the on/warn modes BEFORE touching a pool, turns those pools off; release restores each mode and removes the record', async () => {
    const lab = new PacificAdmin();
    lab.addPool(3, 'already-off', 'off');
    const ceph = lab.driver();
    expect(await ceph.noAutoscale()).toBe(false);

    await ceph.setNoAutoscale(true);
    const keySet = lab.commands.findIndex((c) => c[0] === 'config-key' && c[1] === 'set');
    const firstPoolSet = lab.commands.findIndex((c) => c[2] === 'set' && c[4] === 'pg_autoscale_mode');
    expect(keySet).toBeGreaterThanOrEqual(0);
    expect(keySet).toBeLessThan(firstPoolSet);
    expect(JSON.parse(lab.configKeys.get(AUTOSCALE_FREEZE_KEY)!)).toEqual({
      version: 1,
      pools: [
        { id: 1, name: 'device_health_metrics', mode: 'on' },
        { id: 2, name: 'labdata', mode: 'warn' },
      ],
    });
    expect(lab.modeChanges()).toEqual(['device_health_metrics=off', 'labdata=off']);
    expect(await ceph.noAutoscale()).toBe(true);
    // The global flag is never set: on Pacific its unset turns every pool's mode to "on".
    expect(lab.commands.some((c) => c.includes('noautoscale') && c[2] !== 'get')).toBe(false);

    await ceph.setNoAutoscale(false);
    expect([lab.mode('device_health_metrics'), lab.mode('labdata'), lab.mode('already-off')]).toEqual([
      'on',
      'warn',
      'off',
    ]);
    expect(lab.configKeys.has(AUTOSCALE_FREEZE_KEY)).toBe(false);
    expect(await ceph.noAutoscale()).toBe(false);
  });

  it('a retry after a partial freeze keeps the original modes (the record is not overwritten) and finishes the freeze', async () => {
    const lab = new PacificAdmin();
    const ceph = lab.driver();
    // The connection drops on the second pool: device_health_metrics is already off, labdata still warn.
    lab.failNext = (a) => a[3] === 'labdata' && a[4] === 'pg_autoscale_mode';
    await expect(ceph.setNoAutoscale(true)).rejects.toMatchObject({ type: 'ceph_unavailable', retryable: true });
    expect([lab.mode('device_health_metrics'), lab.mode('labdata')]).toEqual(['off', 'warn']);

    const before = lab.commands.length;
    await ceph.setNoAutoscale(true);
    const retry = lab.commands.slice(before);
    expect(retry.some((c) => c[0] === 'config-key' && c[1] === 'set')).toBe(false);
    expect(retry.filter((c) => c[4] === 'pg_autoscale_mode').map((c) => c[3])).toEqual(['labdata']);
    expect(JSON.parse(lab.configKeys.get(AUTOSCALE_FREEZE_KEY)!).pools.map((p: { mode: string }) => p.mode)).toEqual([
      'on',
      'warn',
    ]);

    await ceph.setNoAutoscale(false);
    expect([lab.mode('device_health_metrics'), lab.mode('labdata')]).toEqual(['on', 'warn']);
  });

  it('the freeze activity: a retry of an attempt that began the freeze completes it and still owns it; a freeze found otherwise is left alone', async () => {
    const lab = new PacificAdmin();
    const ceph = lab.driver();
    let heartbeat = false;
    lab.failNext = (a) => a[3] === 'labdata' && a[4] === 'pg_autoscale_mode';
    await expect(freezeAutoscaleOnce(ceph, false, () => (heartbeat = true))).rejects.toThrow(DriverError);
    expect(heartbeat).toBe(true);
    // Temporal's retry sees the heartbeat of the attempt that started: the half-done freeze is ours.
    expect(await freezeAutoscaleOnce(ceph, heartbeat, () => undefined)).toEqual({ changed: true });
    expect(lab.mode('labdata')).toBe('off');
    // A new upgrade that finds a freeze in place (not its own) does not claim it.
    expect(await freezeAutoscaleOnce(ceph, false, () => undefined)).toEqual({ changed: false });
  });

  it('release is idempotent: pools deleted meanwhile are skipped, one that vanishes mid-release too, and a second release is a no-op', async () => {
    const lab = new PacificAdmin();
    lab.addPool(4, 'scratch', 'on');
    lab.addPool(5, 'gone-later', 'on');
    const ceph = lab.driver();
    await ceph.setNoAutoscale(true);
    lab.pools = lab.pools.filter((p) => p.name !== 'scratch');
    // gone-later is listed by ls detail but deleted before its set arrives (ENOENT).
    const orig = lab.answer.bind(lab);
    lab.answer = (command: string) => {
      const r = orig(command);
      if (command.includes('osd pool ls detail')) lab.pools = lab.pools.filter((p) => p.name !== 'gone-later');
      return r;
    };
    await ceph.setNoAutoscale(false);
    expect([lab.mode('device_health_metrics'), lab.mode('labdata')]).toEqual(['on', 'warn']);
    expect(lab.configKeys.has(AUTOSCALE_FREEZE_KEY)).toBe(false);
    // The retry of a release whose reply was lost: no record, nothing to do, nothing touched.
    const before = lab.commands.length;
    await ceph.setNoAutoscale(false);
    expect(lab.commands.slice(before)).toEqual([['config-key', 'get', AUTOSCALE_FREEZE_KEY]]);
    // A release retried after the modes were restored but before the key was removed restores nothing twice.
    await ceph.setNoAutoscale(true);
    lab.failNext = (a) => a[0] === 'config-key' && a[1] === 'rm';
    await expect(ceph.setNoAutoscale(false)).rejects.toThrow(DriverError);
    const mark = lab.commands.length;
    await ceph.setNoAutoscale(false);
    expect(lab.commands.slice(mark).filter((c) => c[4] === 'pg_autoscale_mode')).toEqual([]);
    expect(lab.configKeys.has(AUTOSCALE_FREEZE_KEY)).toBe(false);
  });

  it("an operator's global flag counts as frozen; a release without the flag reads it as not frozen", async () => {
    const lab = new PacificAdmin();
    const ceph = lab.driver();
    lab.globalFlag = true;
    expect(await ceph.noAutoscale()).toBe(true);
    lab.globalFlag = 'unsupported';
    expect(await ceph.noAutoscale()).toBe(false);
    await ceph.setNoAutoscale(true);
    expect(await ceph.noAutoscale()).toBe(true);
  });
});
