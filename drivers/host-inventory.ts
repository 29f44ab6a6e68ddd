/**
 * Hardware inventory of a host, read over a ShellSession with stock Linux tools. The same code reads
 * real hosts and sandbox machines (whose shell answers these exact commands), so the parsers are
 * exercised by every sandbox registration, not only against fixtures.
 */
import type { Drive } from '../db/database';
import { FAILURE } from '../lib/failures';
import { DriverError, type ShellSession } from './types';

export interface HostInventory {
  cpu_cores: number;
  /** GiB of memory the kernel sees (MemTotal), rounded: slightly below the installed DIMMs. */
  ram_gb: number;
  drives: Drive[];
  /** Things an operator should know that did not fail the inventory (e.g. SMART unreadable). */
  warnings: string[];
}

export interface InventoryOptions {
  /** Prefix smartctl with `sudo -n` when the SSH user is not root (smartctl needs raw device access). */
  sudo?: boolean;
}

/** The exact commands, exported so the sandbox shell and the tests agree with this file. */
export const INVENTORY_COMMANDS = {
  nproc: 'nproc',
  meminfo: 'cat /proc/meminfo',
  lsblk: 'lsblk -J -b -d -o NAME,SIZE,ROTA,TRAN,TYPE',
  smartctl: (device: string, sudo = false) => `${sudo ? 'sudo -n ' : ''}smartctl -H -j /dev/${device}`,
} as const;

export async function readInventory(session: ShellSession, options: InventoryOptions = {}): Promise<HostInventory> {
  const cpu_cores = parseNproc(await session.run(INVENTORY_COMMANDS.nproc));
  const ram_gb = parseMeminfo(await session.run(INVENTORY_COMMANDS.meminfo));
  const disks = parseLsblk(await session.run(INVENTORY_COMMANDS.lsblk));
  const warnings: string[] = [];
  const drives: Drive[] = [];
  // One at a time: sshd allows only MaxSessions (10) channels per connection, and hosts have more disks.
  for (const disk of disks) {
    const res = await session.exec(INVENTORY_COMMANDS.smartctl(disk.name, options.sudo));
    let smart: SmartHealth;
    if (res.code === 127) smart = { ok: false, reason: 'smartctl is not installed (install smartmontools)' };
    else smart = parseSmartctl(res.stdout);
    if (!smart.ok) warnings.push(`${disk.name}: SMART health not confirmed: ${smart.reason}`);
    drives.push({ device: disk.name, size_gb: disk.sizeGb, type: disk.type, smart_ok: smart.ok });
  }
  return { cpu_cores, ram_gb, drives, warnings };
}

function invalid(what: string, detail: string): DriverError {
  return new DriverError(FAILURE.inventoryFailed, `unexpected ${what} output: ${detail}`, false);
}

export function parseNproc(stdout: string): number {
  const n = Number(stdout.trim());
  if (!Number.isInteger(n) || n < 1) throw invalid('nproc', JSON.stringify(stdout.slice(0, 100)));
  return n;
}

export function parseMeminfo(stdout: string): number {
  const m = /^MemTotal:\s+(\d+)\s+kB\s*$/m.exec(stdout);
  if (!m) throw invalid('/proc/meminfo', 'no MemTotal line');
  return Math.round(Number(m[1]) / (1024 * 1024));
}

export interface BlockDisk {
  name: string;
  sizeBytes: number;
  /** Decimal GB, as drives are labelled (a 3.84 TB drive is 3840), rounded down. */
  sizeGb: number;
  type: Drive['type'];
}

// Block devices of type "disk" that are not drives: RAM disks, compressed swap, loop-backed and
// device-mapper/md layers (which sit on top of real disks that are listed themselves).
const NOT_A_DRIVE = /^(loop|ram|zram|md|dm-|nbd|fd)\d*/;

/**
 * `lsblk -J -b -d`: util-linux ≥ 2.33 prints numbers and booleans; older versions print every value
 * as a string ("size": "480103981056", "rota": "1"). Both are accepted.
 */
export function parseLsblk(stdout: string): BlockDisk[] {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw invalid('lsblk', 'not JSON');
  }
  const list = (doc as { blockdevices?: unknown }).blockdevices;
  if (!Array.isArray(list)) throw invalid('lsblk', 'no blockdevices array');
  const disks: BlockDisk[] = [];
  for (const raw of list as Record<string, unknown>[]) {
    const name = typeof raw.name === 'string' ? raw.name : '';
    if (!/^[A-Za-z0-9_-]+$/.test(name)) continue;
    if (raw.type !== 'disk' || NOT_A_DRIVE.test(name)) continue;
    const sizeBytes = Number(raw.size);
    if (!Number.isFinite(sizeBytes) || sizeBytes <= 0) continue;
    const rota = raw.rota === true || raw.rota === '1' || raw.rota === 1;
    const tran = typeof raw.tran === 'string' ? raw.tran.toLowerCase() : null;
    const type: Drive['type'] = tran === 'nvme' || name.startsWith('nvme') ? 'nvme' : rota ? 'hdd' : 'ssd';
    disks.push({ name, sizeBytes, sizeGb: Math.floor(sizeBytes / 1e9), type });
  }
  return disks;
}

export interface SmartHealth {
  ok: boolean;
  reason: string | null;
}

/**
 * `smartctl -H -j`. Only an explicit `smart_status.passed: true` counts as healthy. Anything else —
 * a failed self-assessment, a device without SMART (virtio disks), unparsable output — is reported
 * as not ok with the reason: cluster creation puts OSDs only on drives known to be healthy, and an
 * operator can see why a drive was skipped. smartctl's exit code is a bit mask (bit 3 = failing) and
 * it still prints JSON, so the JSON is read whatever the exit code.
 */
export function parseSmartctl(stdout: string): SmartHealth {
  let doc: {
    smart_status?: { passed?: unknown };
    smartctl?: { messages?: { string?: unknown }[] };
  };
  try {
    doc = JSON.parse(stdout) as typeof doc;
  } catch {
    return { ok: false, reason: 'smartctl output is not JSON (smartmontools < 7.0?)' };
  }
  if (doc === null || typeof doc !== 'object') return { ok: false, reason: 'smartctl output is not a JSON object' };
  const passed = doc.smart_status?.passed;
  if (passed === true) return { ok: true, reason: null };
  if (passed === false) return { ok: false, reason: 'SMART overall-health self-assessment: FAILED' };
  const messages = (doc.smartctl?.messages ?? [])
    .map((m) => (typeof m.string === 'string' ? m.string : ''))
    .filter(Boolean)
    .join('; ');
  return { ok: false, reason: messages ? messages.slice(0, 300) : 'no SMART status reported' };
}
