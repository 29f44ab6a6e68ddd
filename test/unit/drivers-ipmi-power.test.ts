import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { classifyIpmitoolFailure, createIpmiPowerDriver } from '../../drivers/real/ipmi-power';
import { DriverError, type BmcTarget } from '../../drivers/types';

/**
 * ipmitool is faked by a shell script that records its argv and environment and prints what the
 * real ipmitool 1.8.19 printed in the lab (see the lab's bmc-failures results) for each case.
 */
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function fakeIpmitool(body: string): { path: string; argv: () => string[]; env: () => string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nf-ipmitool-'));
  dirs.push(dir);
  const file = path.join(dir, 'ipmitool');
  writeFileSync(
    file,
    `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > "${dir}/argv.log"\nenv > "${dir}/env.log"\n${body}\n`,
  );
  chmodSync(file, 0o755);
  return {
    path: file,
    argv: () => readFileSync(path.join(dir, 'argv.log'), 'utf8').trimEnd().split('\n'),
    env: () => readFileSync(path.join(dir, 'env.log'), 'utf8'),
  };
}

const bmc: BmcTarget = { address: '10.10.2.21', port: 6230, username: 'admin', password: 'Sup3r-$ecret pass' };
const NO_SESSION = 'echo "Error: Unable to establish IPMI v2 / RMCP+ session" >&2; exit 1';

describe('ipmitool power driver', () => {
  it('passes the password only through IPMI_PASSWORD, with lanplus, cipher suite 3 and bounded retries', async () => {
    process.env.NF_TEST_WORKER_SECRET = 'must-not-reach-ipmitool';
    try {
      const fake = fakeIpmitool('echo "Chassis Power is on"');
      const power = createIpmiPowerDriver({ ipmitoolPath: fake.path, replyTimeoutSec: 3, retries: 1 });
      expect(await power.status(bmc)).toBe('on');
      const argv = fake.argv();
      expect(argv.join(' ')).not.toContain(bmc.password);
      expect(argv.join(' ')).not.toContain('-P');
      expect(argv).toEqual([
        '-I',
        'lanplus',
        '-C',
        '3',
        '-H',
        '10.10.2.21',
        '-p',
        '6230',
        '-U',
        'admin',
        '-E',
        '-R',
        '1',
        '-N',
        '3',
        '-v',
        'chassis',
        'power',
        'status',
      ]);
      const env = fake.env();
      expect(env).toContain(`IPMI_PASSWORD=${bmc.password}\n`);
      expect(env).not.toContain('NF_TEST_WORKER_SECRET');
    } finally {
      delete process.env.NF_TEST_WORKER_SECRET;
    }
  });

  it('reads power off, and sends on/off/soft/bootdev as chassis commands', async () => {
    expect(
      await createIpmiPowerDriver({ ipmitoolPath: fakeIpmitool('echo "Chassis Power is off"').path }).status(bmc),
    ).toBe('off');
    for (const [call, expected] of [
      [(p: ReturnType<typeof createIpmiPowerDriver>) => p.on(bmc), 'chassis power on'],
      [(p: ReturnType<typeof createIpmiPowerDriver>) => p.off(bmc), 'chassis power off'],
      [(p: ReturnType<typeof createIpmiPowerDriver>) => p.soft(bmc), 'chassis power soft'],
      [(p: ReturnType<typeof createIpmiPowerDriver>) => p.bootDevice(bmc, 'pxe'), 'chassis bootdev pxe'],
    ] as const) {
      const fake = fakeIpmitool('echo "Chassis Power Control: Up/On"');
      await call(createIpmiPowerDriver({ ipmitoolPath: fake.path }));
      expect(fake.argv().slice(-3).join(' ')).toBe(expected);
    }
  });

  it('a wrong password or unknown user is bmc_auth_failed (never retried)', async () => {
    for (const marker of ['> RAKP 2 HMAC is invalid', 'RAKP 2 message indicates an error : unauthorized name']) {
      const fake = fakeIpmitool(`echo "Loading IANA PEN Registry..." >&2; echo "${marker}" >&2; ${NO_SESSION}`);
      const err = await createIpmiPowerDriver({ ipmitoolPath: fake.path })
        .status(bmc)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DriverError);
      expect(err).toMatchObject({ type: 'bmc_auth_failed', retryable: false });
      expect((err as Error).message).not.toContain(bmc.password);
    }
  });

  it('a BMC that does not answer is bmc_unreachable (retried), even when it fails fast', async () => {
    const fake = fakeIpmitool(
      `echo "Get Auth Capabilities error" >&2; echo "Error issuing Get Channel Authentication Capabilities request" >&2; ${NO_SESSION}`,
    );
    await expect(createIpmiPowerDriver({ ipmitoolPath: fake.path }).on(bmc)).rejects.toMatchObject({
      type: 'bmc_unreachable',
      retryable: true,
    });
  });

  it('without -v markers, the same message is classified by timing: fast = refused, slow = silent BMC', async () => {
    const fast = fakeIpmitool(NO_SESSION);
    await expect(
      createIpmiPowerDriver({ ipmitoolPath: fast.path, replyTimeoutSec: 1 }).status(bmc),
    ).rejects.toMatchObject({
      type: 'bmc_auth_failed',
    });
    const slow = fakeIpmitool(`sleep 0.6; ${NO_SESSION}`);
    await expect(
      createIpmiPowerDriver({ ipmitoolPath: slow.path, replyTimeoutSec: 1 }).status(bmc),
    ).rejects.toMatchObject({
      type: 'bmc_unreachable',
      retryable: true,
    });
  });

  it('before a session exists, a failure says only a fixed classification, never what answered (issue 8 #9)', async () => {
    for (const [script, type] of [
      [
        `echo "Get Auth Capabilities error" >&2; echo "s3cr3t reply from the service at that address" >&2; ${NO_SESSION}`,
        'bmc_unreachable',
      ],
      [`echo "> RAKP 2 HMAC is invalid" >&2; echo "s3cr3t banner" >&2; ${NO_SESSION}`, 'bmc_auth_failed'],
      [`echo "s3cr3t banner" >&2; ${NO_SESSION}`, 'bmc_auth_failed'],
    ] as const) {
      const err = await createIpmiPowerDriver({ ipmitoolPath: fakeIpmitool(script).path })
        .status(bmc)
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ type });
      expect((err as Error).message).not.toMatch(/s3cr3t|RAKP|Capabilities/);
    }
  });

  it('a hung ipmitool is killed at the process timeout and reported unreachable', async () => {
    const fake = fakeIpmitool('exec sleep 30');
    const started = Date.now();
    const err = await createIpmiPowerDriver({ ipmitoolPath: fake.path, processTimeoutMs: 300 })
      .status(bmc)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      type: 'bmc_unreachable',
      retryable: true,
      message: expect.stringContaining('timed out'),
    });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a BMC that answers but fails the command is retried; insufficient privilege is permanent', async () => {
    const busy = fakeIpmitool('echo "Get Chassis Power Status failed: Unspecified error" >&2; exit 1');
    await expect(createIpmiPowerDriver({ ipmitoolPath: busy.path }).status(bmc)).rejects.toMatchObject({
      type: 'bmc_unreachable',
      retryable: true,
      message: expect.stringContaining('Unspecified error'),
    });
    const viewer = fakeIpmitool(
      'echo "Set Chassis Power Control to Up/On failed: Insufficient privilege level" >&2; exit 1',
    );
    await expect(createIpmiPowerDriver({ ipmitoolPath: viewer.path }).on(bmc)).rejects.toMatchObject({
      type: 'bmc_auth_failed',
      retryable: false,
    });
  });

  it('chassis bootdev exits 0 when the BMC rejects it: stderr decides', async () => {
    const rejected = fakeIpmitool(
      'echo "Set Chassis Boot Parameter 4 failed: Unspecified error" >&2; echo "Set Chassis Boot Parameter 5 failed: Unspecified error" >&2; exit 0',
    );
    await expect(createIpmiPowerDriver({ ipmitoolPath: rejected.path }).bootDevice(bmc, 'pxe')).rejects.toMatchObject({
      type: 'bmc_unreachable',
      message: expect.stringContaining('rejected boot device pxe'),
    });
    // Noise that real ipmitool prints on success must not count as a rejection.
    const accepted = fakeIpmitool(
      'echo "Get HPM.x Capabilities request failed, compcode = d4" >&2; echo "Set Boot Device to pxe"',
    );
    await createIpmiPowerDriver({ ipmitoolPath: accepted.path }).bootDevice(bmc, 'pxe');
  });

  it('a power state neither on nor off is unknown (bmc_power_unknown, retried), never taken for off (issue 13 #5)', async () => {
    for (const out of [
      'echo "Chassis Power is unknown"',
      'true',
      'echo "Chassis Power is off-line, retry"',
      'echo "Chassis Power Control: Down/Off"',
    ]) {
      const fake = fakeIpmitool(out);
      await expect(createIpmiPowerDriver({ ipmitoolPath: fake.path }).status(bmc)).rejects.toMatchObject({
        type: 'bmc_power_unknown',
        retryable: true,
      });
    }
  });

  it('a missing or non-executable ipmitool is ipmitool_missing (never retried)', async () => {
    const missing = createIpmiPowerDriver({ ipmitoolPath: path.join(os.tmpdir(), 'nf-no-such-dir', 'ipmitool') });
    await expect(missing.status(bmc)).rejects.toMatchObject({ type: 'ipmitool_missing', retryable: false });
    const fake = fakeIpmitool('echo "Chassis Power is on"');
    // Even root cannot exec a file without any x bit: EACCES.
    chmodSync(fake.path, 0o644);
    await expect(createIpmiPowerDriver({ ipmitoolPath: fake.path }).status(bmc)).rejects.toMatchObject({
      type: 'ipmitool_missing',
    });
  });

  it('classification is a pure function of the run (unit check of the decision table)', () => {
    const ctx = { address: 'b', command: 'chassis power status', replyTimeoutMs: 2000 };
    const run = (stderr: string, elapsedMs = 20, timedOut = false) =>
      classifyIpmitoolFailure({ code: 1, stdout: '', stderr, elapsedMs, timedOut }, ctx).type;
    expect(run('Error: Unable to establish IPMI v2 / RMCP+ session', 27)).toBe('bmc_auth_failed');
    expect(run('Error: Unable to establish IPMI v2 / RMCP+ session', 2040)).toBe('bmc_unreachable');
    expect(run('> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session', 2040)).toBe(
      'bmc_auth_failed',
    );
    expect(run('', 0, true)).toBe('bmc_unreachable');
    expect(run('Address lookup for bmc.example failed')).toBe('bmc_unreachable');
  });
});
