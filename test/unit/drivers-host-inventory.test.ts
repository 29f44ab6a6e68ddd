import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  INVENTORY_COMMANDS,
  parseLsblk,
  parseMeminfo,
  parseNproc,
  parseSmartctl,
  readInventory,
} from '../../drivers/host-inventory';
import { DriverError } from '../../drivers/types';
import { ok, ScriptedShell } from '../drivers/fake-shell';

const fixture = (name: string) => readFileSync(path.resolve(__dirname, '../fixtures/host', name), 'utf8');

describe('host inventory parsers', () => {
  it('reads lsblk from a real VM: skips the zram device, a virtio disk without transport is a rotating hdd', () => {
    expect(parseLsblk(fixture('lsblk-virtio-vm.json'))).toEqual([
      { name: 'vda', sizeBytes: 274_877_906_944, sizeGb: 274, type: 'hdd' },
    ]);
  });

  it('reads the string-valued lsblk of older util-linux; keeps whole disks only and types them by transport', () => {
    expect(parseLsblk(fixture('lsblk-server-legacy.json'))).toEqual([
      { name: 'sda', sizeBytes: 960_197_124_096, sizeGb: 960, type: 'ssd' },
      { name: 'sdb', sizeBytes: 16_000_900_661_248, sizeGb: 16000, type: 'hdd' },
      { name: 'nvme0n1', sizeBytes: 3_840_755_982_336, sizeGb: 3840, type: 'nvme' },
    ]);
  });

  it('rejects lsblk output that is not the JSON it asked for', () => {
    expect(() => parseLsblk('NAME SIZE\nsda 1T')).toThrow(DriverError);
    expect(() => parseLsblk('{"devices": []}')).toThrow(/blockdevices/);
  });

  it('reads MemTotal as GiB the kernel sees', () => {
    expect(parseMeminfo(fixture('meminfo-vm.txt'))).toBe(24);
    expect(() => parseMeminfo('MemFree: 1 kB\n')).toThrow(/MemTotal/);
  });

  it('reads nproc and rejects nonsense', () => {
    expect(parseNproc('32\n')).toBe(32);
    for (const bad of ['', '0\n', 'abc', '3.5']) expect(() => parseNproc(bad)).toThrow(DriverError);
  });

  it('trusts SMART only when smartctl says passed', () => {
    expect(parseSmartctl(fixture('smartctl-passed-sat.json'))).toEqual({ ok: true, reason: null });
    expect(parseSmartctl(fixture('smartctl-failed-nvme.json'))).toEqual({
      ok: false,
      reason: 'SMART overall-health self-assessment: FAILED',
    });
    const virtio = parseSmartctl(fixture('smartctl-no-smart-virtio.json'));
    expect(virtio.ok).toBe(false);
    expect(virtio.reason).toContain('Unable to detect device type');
    expect(
      parseSmartctl('smartctl 6.6 2017-11-05 r4594\nSMART overall-health self-assessment test result: PASSED').ok,
    ).toBe(false);
  });
});

describe('readInventory', () => {
  const base = {
    [INVENTORY_COMMANDS.nproc]: ok('48\n'),
    [INVENTORY_COMMANDS.meminfo]: ok('MemTotal:       263842516 kB\nMemFree:        250000000 kB\n'),
    [INVENTORY_COMMANDS.lsblk]: ok(fixture('lsblk-server-legacy.json')),
  };

  it('combines the commands into the node facts, SMART per drive, and explains unhealthy drives', async () => {
    const shell = new ScriptedShell({
      ...base,
      'smartctl -H -j /dev/sda': ok(fixture('smartctl-passed-sat.json')),
      'smartctl -H -j /dev/sdb': {
        code: 8,
        stdout: fixture('smartctl-passed-sat.json').replace('"passed": true', '"passed": false'),
        stderr: '',
      },
      'smartctl -H -j /dev/nvme0n1': ok(fixture('smartctl-passed-sat.json')),
    });
    const inv = await readInventory(shell);
    expect(inv.cpu_cores).toBe(48);
    expect(inv.ram_gb).toBe(252);
    expect(inv.drives).toEqual([
      { device: 'sda', size_gb: 960, type: 'ssd', smart_ok: true },
      { device: 'sdb', size_gb: 16000, type: 'hdd', smart_ok: false },
      { device: 'nvme0n1', size_gb: 3840, type: 'nvme', smart_ok: true },
    ]);
    expect(inv.warnings).toEqual(['sdb: SMART health not confirmed: SMART overall-health self-assessment: FAILED']);
    // Never asks SMART of devices that are not drives.
    expect(shell.commands.filter((c) => c.includes('smartctl'))).toHaveLength(3);
  });

  it('marks every drive not ok when smartctl is missing, and says so', async () => {
    const inv = await readInventory(new ScriptedShell(base));
    expect(inv.drives.map((d) => d.smart_ok)).toEqual([false, false, false]);
    expect(inv.warnings[0]).toMatch(/smartctl is not installed/);
  });

  it('runs smartctl through sudo -n when asked', async () => {
    const shell = new ScriptedShell({
      ...base,
      'sudo -n smartctl -H -j /dev/sda': ok(fixture('smartctl-passed-sat.json')),
    });
    const inv = await readInventory(shell, { sudo: true });
    expect(inv.drives[0]!.smart_ok).toBe(true);
    expect(shell.commands).toContain('sudo -n smartctl -H -j /dev/nvme0n1');
  });

  it('fails with command_failed when a basic command fails', async () => {
    const shell = new ScriptedShell({
      ...base,
      [INVENTORY_COMMANDS.nproc]: { code: 1, stdout: '', stderr: 'nproc: boom' },
    });
    await expect(readInventory(shell)).rejects.toMatchObject({
      type: 'command_failed',
      message: expect.stringContaining('nproc: boom'),
    });
  });
});
