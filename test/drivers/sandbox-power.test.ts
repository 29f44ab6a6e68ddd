import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/database';
import {
  createSandboxPowerDriver,
  getSandboxMachine,
  listPowerEvents,
  rackSandboxMachine,
  SandboxInputError,
  setMachineFaults,
} from '../../drivers/sandbox';
import { DriverError } from '../../drivers/types';
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

const actions = async (ipmi: string) => (await listPowerEvents(db, accountId, ipmi)).map((e) => e.action);

describe('racking a sandbox machine', () => {
  it('creates a powered-on, booted machine with hardware derived from its hostname and a pinned-style host key', async () => {
    const { machine, input } = await rack(db, accountId, 1, 'storage-hw-01');
    expect(machine.power_state).toBe('on');
    expect(machine.running).toBe(true);
    expect(machine.host_key_fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(machine.cpu_cores).toBeGreaterThanOrEqual(16);
    expect(machine.cpu_cores).toBeLessThanOrEqual(64);
    expect(machine.ram_gb).toBeGreaterThanOrEqual(128);
    expect(machine.ram_gb).toBeLessThanOrEqual(512);
    expect(machine.drives.length).toBeGreaterThanOrEqual(4);
    expect(machine.drives.length).toBeLessThanOrEqual(8);
    for (const d of machine.drives) {
      expect(['nvme', 'ssd', 'hdd']).toContain(d.type);
      expect(d.size_gb).toBeGreaterThan(900);
      expect(d.smart_ok).toBe(true);
    }
    expect(machine.boot_delay_ms).toBe(30_000);
    expect(machine.shutdown_delay_ms).toBe(10_000);

    // Same hostname in another account's datacenter: the same server model.
    const other = await createTestAccount(db);
    const twin = await rackSandboxMachine(db, { ...input, accountId: other }, 1);
    expect(twin.id).not.toBe(machine.id);
    expect([twin.cpu_cores, twin.ram_gb, twin.drives]).toEqual([machine.cpu_cores, machine.ram_gb, machine.drives]);
    expect(twin.host_key_fingerprint).not.toBe(machine.host_key_fingerprint);
  });

  it('stores only a hash of the BMC password', async () => {
    const { input } = await rack(db, accountId, 1);
    const row = await db
      .selectFrom('sandbox_machines')
      .selectAll()
      .where('ipmi_address', '=', input.ipmiAddress)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(input.bmcPassword);
  });

  it('is idempotent by BMC address: racking again keeps the machine and takes the new credentials', async () => {
    const { machine, input, bmc } = await rack(db, accountId, 1);
    const power = createSandboxPowerDriver(db, accountId);
    await power.off(bmc);
    const again = await rackSandboxMachine(db, { ...input, bmcPassword: 'rotated' }, 1);
    expect(again.id).toBe(machine.id);
    expect(again.power_state).toBe('off');
    expect(again.host_key_fingerprint).toBe(machine.host_key_fingerprint);
    const rows = await db
      .selectFrom('sandbox_machines')
      .select('id')
      .where('account_id', '=', accountId)
      .where('ipmi_address', '=', input.ipmiAddress)
      .execute();
    expect(rows).toHaveLength(1);
    await expect(power.status(bmc)).rejects.toMatchObject({ type: 'bmc_auth_failed' });
    expect(await power.status({ ...bmc, password: 'rotated' })).toBe('off');
  });

  it('scales delays by speed (0 = instant) and rejects a negative speed', async () => {
    expect((await rack(db, accountId, 0)).machine.boot_delay_ms).toBe(0);
    expect((await rack(db, accountId, 0.5)).machine.shutdown_delay_ms).toBe(5_000);
    await expect(rack(db, accountId, -1)).rejects.toBeInstanceOf(SandboxInputError);
  });
});

describe('sandbox power driver', () => {
  it('soft power-off completes only after the shutdown delay; status reads are not logged', async () => {
    const clock = manualClock();
    const { input, bmc } = await rack(db, accountId, 1);
    const power = createSandboxPowerDriver(db, accountId, clock);
    await power.soft(bmc);
    expect(await power.status(bmc)).toBe('on');
    clock.advance(9_999);
    expect(await power.status(bmc)).toBe('on');
    expect((await getSandboxMachine(db, accountId, input.ipmiAddress, clock))!.shutting_down).toBe(true);
    clock.advance(1);
    expect(await power.status(bmc)).toBe('off');
    expect(await actions(input.ipmiAddress)).toEqual(['soft']);
  });

  it('soft power-off in real time at a fractional speed', async () => {
    const { input, bmc } = await rack(db, accountId, 0.03); // 300 ms shutdown
    const power = createSandboxPowerDriver(db, accountId);
    const sent = Date.now();
    await power.soft(bmc);
    expect(await power.status(bmc)).toBe('on');
    let state = 'on';
    while (state === 'on' && Date.now() - sent < 5_000) {
      await new Promise((r) => setTimeout(r, 20));
      state = await power.status(bmc);
    }
    expect(state).toBe('off');
    expect(Date.now() - sent).toBeGreaterThanOrEqual(290);
    expect(await actions(input.ipmiAddress)).toEqual(['soft']);
  });

  it('off is immediate, on powers up, and every chassis command is logged once in order', async () => {
    const clock = manualClock();
    const { input, bmc } = await rack(db, accountId, 1);
    const power = createSandboxPowerDriver(db, accountId, clock);
    await power.off(bmc);
    expect(await power.status(bmc)).toBe('off');
    await power.bootDevice(bmc, 'pxe');
    await power.on(bmc);
    expect(await power.status(bmc)).toBe('on');
    expect((await getSandboxMachine(db, accountId, input.ipmiAddress, clock))!.running).toBe(false);
    clock.advance(30_000);
    expect((await getSandboxMachine(db, accountId, input.ipmiAddress, clock))!.running).toBe(true);
    await power.on(bmc); // already on: a no-op for the machine, still a command the BMC received
    expect(await actions(input.ipmiAddress)).toEqual(['off', 'bootdev pxe', 'on', 'on']);
    const events = await listPowerEvents(db, accountId, input.ipmiAddress);
    expect(events.every((e) => e.at instanceof Date)).toBe(true);
  });

  it('a repeated soft does not restart the shutdown; off during a shutdown wins at once', async () => {
    const clock = manualClock();
    const { input, bmc } = await rack(db, accountId, 1);
    const power = createSandboxPowerDriver(db, accountId, clock);
    await power.soft(bmc);
    clock.advance(6_000);
    await power.soft(bmc);
    clock.advance(4_000);
    expect(await power.status(bmc)).toBe('off');
    await power.on(bmc);
    await power.soft(bmc);
    await power.off(bmc);
    expect(await power.status(bmc)).toBe('off');
    clock.advance(60_000);
    expect(await power.status(bmc)).toBe('off');
    expect(await actions(input.ipmiAddress)).toEqual(['soft', 'soft', 'on', 'soft', 'off']);
  });

  it('serializes concurrent commands on one machine: each is logged exactly once', async () => {
    const { input, bmc } = await rack(db, accountId, 0);
    const power = createSandboxPowerDriver(db, accountId);
    await Promise.all([power.off(bmc), power.on(bmc), power.off(bmc), power.on(bmc), power.bootDevice(bmc, 'disk')]);
    const log = await actions(input.ipmiAddress);
    expect(log).toHaveLength(5);
    expect(log.filter((a) => a === 'off')).toHaveLength(2);
    // Whatever the order, the final state is the last command's.
    const last = log.filter((a) => a !== 'bootdev disk').at(-1);
    expect(await power.status(bmc)).toBe(last);
  });

  it('classifies BMC failures: unknown address is unreachable (retryable), bad credentials are permanent and unlogged', async () => {
    const { input, bmc } = await rack(db, accountId, 1);
    const power = createSandboxPowerDriver(db, accountId);
    const unknown = await power.status({ ...bmc, address: '10.99.99.99' }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(DriverError);
    expect(unknown).toMatchObject({ type: 'bmc_unreachable', retryable: true });
    await expect(power.off({ ...bmc, password: 'wrong' })).rejects.toMatchObject({
      type: 'bmc_auth_failed',
      retryable: false,
    });
    await expect(power.off({ ...bmc, username: 'root' })).rejects.toMatchObject({
      type: 'bmc_auth_failed',
      retryable: false,
    });
    expect(await power.status(bmc)).toBe('on');
    expect(await actions(input.ipmiAddress)).toEqual([]);
    // Another account's datacenter does not have this machine.
    const stranger = createSandboxPowerDriver(db, await createTestAccount(db));
    await expect(stranger.status(bmc)).rejects.toMatchObject({ type: 'bmc_unreachable' });
  });

  it('injected faults: bmc_unreachable, bmc_auth_fail, soft_off_ignored; clearing them restores the BMC', async () => {
    const clock = manualClock();
    const { input, bmc } = await rack(db, accountId, 1);
    const power = createSandboxPowerDriver(db, accountId, clock);

    await setMachineFaults(db, accountId, input.ipmiAddress, ['bmc_unreachable']);
    await expect(power.on(bmc)).rejects.toMatchObject({ type: 'bmc_unreachable', retryable: true });
    await setMachineFaults(db, accountId, input.ipmiAddress, { bmc_auth_fail: true });
    await expect(power.status(bmc)).rejects.toMatchObject({ type: 'bmc_auth_failed', retryable: false });

    const view = await setMachineFaults(db, accountId, input.ipmiAddress, {
      soft_off_ignored: true,
      bmc_auth_fail: false,
    });
    expect(view!.faults).toEqual(['soft_off_ignored']);
    await power.soft(bmc);
    clock.advance(3_600_000);
    expect(await power.status(bmc)).toBe('on');

    await setMachineFaults(db, accountId, input.ipmiAddress, {});
    expect((await getSandboxMachine(db, accountId, input.ipmiAddress))!.faults).toEqual([]);
    // Only the names are exposed; the stored value is when each fault was set.
    const row = await db
      .selectFrom('sandbox_machines')
      .select('faults')
      .where('ipmi_address', '=', input.ipmiAddress)
      .executeTakeFirstOrThrow();
    expect(row.faults).toEqual({});
    await power.soft(bmc);
    clock.advance(10_000);
    expect(await power.status(bmc)).toBe('off');
    expect(await actions(input.ipmiAddress)).toEqual(['soft', 'soft']);
  });

  it('validates fault names and reports a missing machine as null', async () => {
    const { input } = await rack(db, accountId, 1);
    await expect(setMachineFaults(db, accountId, input.ipmiAddress, ['power_supply_on_fire'])).rejects.toThrow(
      /unknown sandbox fault/,
    );
    await expect(setMachineFaults(db, accountId, input.ipmiAddress, { nope: true })).rejects.toBeInstanceOf(
      SandboxInputError,
    );
    expect(await setMachineFaults(db, accountId, '10.255.255.255', ['no_boot'])).toBeNull();
    expect(await getSandboxMachine(db, accountId, '10.255.255.255')).toBeNull();
  });
});
