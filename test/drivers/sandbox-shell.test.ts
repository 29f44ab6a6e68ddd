import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/database';
import { readInventory } from '../../drivers/host-inventory';
import { createSandboxPowerDriver, createSandboxShellDriver, setMachineFaults } from '../../drivers/sandbox';
import { createTestAccount, testDb } from '../helpers/db';
import { manualClock, rack } from './sandbox-helpers';

let db: Db;
let accountId: string;

beforeAll(async () => {
  db = testDb();
  accountId = await createTestAccount(db);
});
afterAll(async () => {
  await db.destroy();
});

describe('sandbox shell driver', () => {
  it('pins on first contact and verifies the pin afterwards; a changed host key is a permanent mismatch', async () => {
    const { machine, input, ssh } = await rack(db, accountId, 1);
    const shell = createSandboxShellDriver(db, accountId);
    const first = await shell.connect(ssh);
    expect(first.hostKeyFingerprint).toBe(machine.host_key_fingerprint);
    first.close();
    const pinned = { ...ssh, pinnedFingerprint: machine.host_key_fingerprint };
    (await shell.connect(pinned)).close();
    await expect(
      shell.connect({ ...ssh, pinnedFingerprint: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }),
    ).rejects.toMatchObject({
      type: 'host_key_mismatch',
      retryable: false,
    });
    await setMachineFaults(db, accountId, input.ipmiAddress, ['host_key_changed']);
    await expect(shell.connect(pinned)).rejects.toMatchObject({ type: 'host_key_mismatch', retryable: false });
    const seen = await shell.connect(ssh);
    expect(seen.hostKeyFingerprint).toMatch(/^SHA256:/);
    expect(seen.hostKeyFingerprint).not.toBe(machine.host_key_fingerprint);
  });

  it('is unreachable (retryable) for an unknown address, a machine that is off, booting, shutting down or that never boots', async () => {
    const clock = manualClock();
    const { input, bmc, ssh } = await rack(db, accountId, 1);
    const shell = createSandboxShellDriver(db, accountId, clock);
    const power = createSandboxPowerDriver(db, accountId, clock);
    const unreachable = { type: 'ssh_unreachable', retryable: true };

    await expect(shell.connect({ ...ssh, host: '10.250.0.1' })).rejects.toMatchObject(unreachable);
    await power.soft(bmc);
    await expect(shell.connect(ssh)).rejects.toMatchObject({
      ...unreachable,
      message: expect.stringContaining('shutting down'),
    });
    clock.advance(10_000);
    await expect(shell.connect(ssh)).rejects.toMatchObject({
      ...unreachable,
      message: expect.stringContaining('powered off'),
    });
    await power.on(bmc);
    clock.advance(29_999);
    await expect(shell.connect(ssh)).rejects.toMatchObject({
      ...unreachable,
      message: expect.stringContaining('booting'),
    });
    clock.advance(1);
    (await shell.connect(ssh)).close();

    // no_boot acts on the next boot: the running OS keeps answering.
    await setMachineFaults(db, accountId, input.ipmiAddress, ['no_boot'], clock);
    clock.advance(1);
    (await shell.connect(ssh)).close();
    await power.off(bmc);
    await power.on(bmc);
    clock.advance(24 * 3_600_000);
    expect(await power.status(bmc)).toBe('on');
    await expect(shell.connect(ssh)).rejects.toMatchObject(unreachable);
  });

  it('drops an open session when its machine goes down', async () => {
    const { bmc, ssh } = await rack(db, accountId, 0);
    const shell = createSandboxShellDriver(db, accountId);
    const session = await shell.connect(ssh);
    expect(await session.run('true')).toBe('');
    await createSandboxPowerDriver(db, accountId).off(bmc);
    await expect(session.exec('hostname')).rejects.toMatchObject({ type: 'ssh_unreachable', retryable: true });
  });

  it('answers the host commands with real tool formats; anything else is exit 127', async () => {
    const { machine, ssh } = await rack(db, accountId, 1, 'storage-cmd-07.dc1.example');
    const session = await createSandboxShellDriver(db, accountId).connect(ssh);
    expect(await session.run('hostname')).toBe('storage-cmd-07\n');
    expect(await session.run('nproc')).toBe(`${machine.cpu_cores}\n`);
    expect(await session.run('uptime -s')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n$/);
    const lsblk = JSON.parse(await session.run('lsblk -J -b -d -o NAME,SIZE,ROTA,TRAN,TYPE'));
    expect(lsblk.blockdevices.map((d: { name: string }) => d.name)).toEqual([
      ...machine.drives.map((d) => d.device),
      'sr0',
    ]);
    const smart = await session.exec(`smartctl -H -j /dev/${machine.drives[0]!.device}`);
    expect(smart.code).toBe(0);
    expect(JSON.parse(smart.stdout).smart_status.passed).toBe(true);
    expect((await session.exec('smartctl -H -j /dev/sdz')).code).toBe(2);
    expect(await session.exec('rm -rf /')).toEqual({
      code: 127,
      stdout: '',
      stderr: 'bash: line 1: rm: command not found\n',
    });
    await expect(session.run('ceph -s')).rejects.toMatchObject({ type: 'command_failed', retryable: false });
  });

  it('readInventory over the sandbox shell returns exactly the machine it racked', async () => {
    const { machine, ssh } = await rack(db, accountId, 1);
    const session = await createSandboxShellDriver(db, accountId).connect(ssh);
    try {
      const inv = await readInventory(session);
      expect(inv).toEqual({
        cpu_cores: machine.cpu_cores,
        ram_gb: machine.ram_gb,
        drives: machine.drives,
        warnings: [],
      });
    } finally {
      session.close();
    }
  });

  it('a closed session and an aborted signal refuse to run', async () => {
    const { ssh } = await rack(db, accountId, 1);
    const shell = createSandboxShellDriver(db, accountId);
    const session = await shell.connect(ssh);
    const ac = new AbortController();
    ac.abort();
    await expect(session.exec('true', { signal: ac.signal })).rejects.toMatchObject({ type: 'cancelled' });
    await expect(shell.connect(ssh, { signal: ac.signal })).rejects.toMatchObject({ type: 'cancelled' });
    session.close();
    await expect(session.exec('true')).rejects.toMatchObject({ type: 'ssh_unreachable' });
  });
});
