import { describe, expect, it } from 'vitest';
import { probeNode } from '../../activities/node-probes';
import type { ActivityDeps } from '../../activities/deps';
import type { Node } from '../../db/database';
import { DriverError, type PowerDriver, type ShellDriver, type ShellSession } from '../../drivers/types';
import { FAILURE } from '../../lib/failures';
import { generateSecretKey, parseSecretKey } from '../../lib/config';
import { encryptSecret } from '../../lib/secrets';

// One member's probe (activities/node-probes.ts) with drivers that misbehave on purpose: every wait
// is bounded, an erroring BMC is never read as "off", and a session is closed however the probe ends.

const key = parseSecretKey(generateSecretKey());
const node = {
  id: 'node_1',
  account_id: 'acct_1',
  environment: 'live',
  hostname: 'stor1',
  ip_address: '10.0.0.1',
  ssh_port: 22,
  ssh_user: 'root',
  ssh_private_key_enc: encryptSecret(key, 'k'),
  ssh_host_key_fingerprint: 'SHA256:x',
  ipmi_address: '10.0.1.1',
  ipmi_port: 623,
  ipmi_username: 'admin',
  ipmi_password_enc: encryptSecret(key, 'p'),
} as unknown as Node;

function depsWith(shell: ShellDriver, power: Partial<PowerDriver>): ActivityDeps {
  return {
    drivers: { for: () => ({ shell, power: power as PowerDriver, ceph: () => ({}) as never }) },
    config: { secretKey: key },
  } as unknown as ActivityDeps;
}

function session(run: () => Promise<string>, closed: { n: number }): ShellSession {
  return {
    hostKeyFingerprint: 'SHA256:x',
    exec: async () => ({ code: 0, stdout: '', stderr: '' }),
    run,
    close: () => {
      closed.n++;
    },
  };
}

const never = () => new Promise<never>(() => undefined);

describe('node probe', () => {
  it('both answer with power on → no failure; the session is closed', async () => {
    const closed = { n: 0 };
    const shell: ShellDriver = { connect: async () => session(async () => '', closed) };
    const p = await probeNode(depsWith(shell, { status: async () => 'on' }), node, 200);
    expect(p).toEqual({ nodeId: 'node_1', hostname: 'stor1', failure: null });
    expect(closed.n).toBe(1);
  });

  it('a host that never answers and a BMC that hangs are given up after the bound, both named', async () => {
    const t0 = Date.now();
    const shell: ShellDriver = { connect: never };
    const p = await probeNode(depsWith(shell, { status: never }), node, 200);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(p.failure).toBe(
      'ssh: ssh 10.0.0.1 did not answer within 0.2 s; bmc: BMC 10.0.1.1 did not answer within 0.2 s',
    );
  });

  it('an erroring BMC is never read as off; SSH fine → offline for the BMC alone', async () => {
    const closed = { n: 0 };
    const shell: ShellDriver = { connect: async () => session(async () => '', closed) };
    const bmc = {
      status: async () => {
        throw new DriverError(FAILURE.bmcUnreachable, 'BMC 10.0.1.1 did not answer', true);
      },
    };
    const p = await probeNode(depsWith(shell, bmc), node, 200);
    expect(p.failure).toBe('bmc: BMC 10.0.1.1 did not answer');
  });

  it('power read as off with SSH down → ssh reason saying the BMC reads power off', async () => {
    const shell: ShellDriver = {
      connect: async () => {
        throw new DriverError(FAILURE.sshUnreachable, 'ssh 10.0.0.1: connect timed out', true);
      },
    };
    const p = await probeNode(depsWith(shell, { status: async () => 'off' }), node, 200);
    expect(p.failure).toBe('ssh: ssh 10.0.0.1: connect timed out (the BMC reads chassis power off)');
  });

  it('a session that connects after the bound expired is closed, not leaked', async () => {
    const closed = { n: 0 };
    let late: (s: ShellSession) => void = () => undefined;
    const shell: ShellDriver = { connect: () => new Promise<ShellSession>((r) => (late = r)) };
    const p = await probeNode(depsWith(shell, { status: async () => 'on' }), node, 100);
    expect(p.failure).toMatch(/^ssh: .*did not answer within 0.1 s$/);
    late(session(async () => '', closed));
    await new Promise((r) => setImmediate(r));
    expect(closed.n).toBe(1);
  });

  it('a session whose command hangs past the bound is closed', async () => {
    const closed = { n: 0 };
    const shell: ShellDriver = { connect: async () => session(never, closed) };
    const p = await probeNode(depsWith(shell, { status: async () => 'on' }), node, 100);
    expect(p.failure).toMatch(/^ssh: .*did not answer within 0.1 s$/);
    await new Promise((r) => setImmediate(r));
    expect(closed.n).toBe(1);
  });
});
