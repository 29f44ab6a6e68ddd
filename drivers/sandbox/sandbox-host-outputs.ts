/**
 * What a simulated host prints for the commands NodeFoundry runs on hosts, in the exact formats of
 * the real tools (util-linux 2.38 lsblk, smartmontools 7.3, Linux 6.1 /proc/meminfo), so the parsers
 * in drivers/host-inventory.ts read sandbox and real hosts alike.
 */
import { createHash } from 'node:crypto';
import type { Drive } from '../../db/database';
import type { ExecResult } from '../types';
import { driveModel } from './sandbox-hardware';

export interface HostFacts {
  hostname: string;
  cpu_cores: number;
  ram_gb: number;
  drives: Drive[];
  /** When power was applied (what `uptime -s` reports, to the second). */
  bootedAt: Date;
}

const ok = (stdout: string): ExecResult => ({ code: 0, stdout, stderr: '' });

export function answerCommand(facts: HostFacts, command: string): ExecResult {
  // The simulated user may do anything root can; `sudo -n` is accepted and ignored.
  const cmd = command.trim().replace(/^sudo -n\s+/, '');
  switch (cmd) {
    case 'true':
      return ok('');
    case 'hostname':
      return ok(`${facts.hostname.split('.')[0]}\n`);
    case 'nproc':
      return ok(`${facts.cpu_cores}\n`);
    case 'cat /proc/meminfo':
      return ok(meminfo(facts));
    case 'lsblk -J -b -d -o NAME,SIZE,ROTA,TRAN,TYPE':
      return ok(lsblkJson(facts.drives));
    case 'uptime -s':
      return ok(`${facts.bootedAt.toISOString().slice(0, 19).replace('T', ' ')}\n`);
  }
  const smart = /^smartctl -H -j \/dev\/([A-Za-z0-9_-]+)$/.exec(cmd);
  if (smart) return smartctl(facts.drives, smart[1]!);
  const word = cmd.split(/\s+/)[0] ?? '';
  return { code: 127, stdout: '', stderr: `bash: line 1: ${word}: command not found\n` };
}

function meminfo(facts: HostFacts): string {
  const h = createHash('sha256').update(facts.hostname).digest();
  // The kernel keeps a few hundred MiB of the installed memory for itself; under half a GiB so
  // that the inventory's rounding gives back the installed size.
  const totalKb = facts.ram_gb * 1024 * 1024 - (150_000 + h.readUInt16BE(0) * 4);
  const freeKb = Math.floor(totalKb * 0.91);
  const availKb = Math.floor(totalKb * 0.95);
  const rows: [string, number][] = [
    ['MemTotal', totalKb],
    ['MemFree', freeKb],
    ['MemAvailable', availKb],
    ['Buffers', 412_332],
    ['Cached', Math.floor(totalKb * 0.03)],
    ['SwapCached', 0],
    ['Active', Math.floor(totalKb * 0.02)],
    ['Inactive', Math.floor(totalKb * 0.025)],
    ['SwapTotal', 0],
    ['SwapFree', 0],
    ['Dirty', 128],
    ['Shmem', 27_664],
    ['Slab', 1_283_044],
    ['PageTables', 23_516],
    ['CommitLimit', Math.floor(totalKb / 2)],
    ['Committed_AS', 3_262_448],
    ['VmallocTotal', 34_359_738_367],
    ['HugePages_Total', 0],
  ];
  return rows
    .map(([k, v]) =>
      k.startsWith('HugePages')
        ? `${`${k}:`.padEnd(16)}${String(v).padStart(8)}`
        : `${`${k}:`.padEnd(16)}${String(v).padStart(8)} kB`,
    )
    .join('\n')
    .concat('\n');
}

/** util-linux 2.38's JSON layout, including the virtual-media CD-ROM a BMC attaches (type "rom"). */
function lsblkJson(drives: Drive[]): string {
  const devices = [
    ...drives.map((d) => {
      const m = driveModel(d);
      return { name: d.device, size: m.bytes, rota: d.type === 'hdd', tran: m.tran, type: 'disk' };
    }),
    { name: 'sr0', size: 1_073_741_312, rota: true, tran: 'usb', type: 'rom' },
  ];
  const body = devices
    .map(
      (d) =>
        `{\n         "name": ${JSON.stringify(d.name)},\n         "size": ${d.size},\n         "rota": ${d.rota},\n` +
        `         "tran": ${JSON.stringify(d.tran)},\n         "type": ${JSON.stringify(d.type)}\n      }`,
    )
    .join(',');
  return `{\n   "blockdevices": [\n      ${body}\n   ]\n}\n`;
}

function smartctl(drives: Drive[], device: string): ExecResult {
  const argv = ['smartctl', '-H', '-j', `/dev/${device}`];
  const header = {
    json_format_version: [1, 0],
    smartctl: {
      version: [7, 3],
      svn_revision: '5338',
      platform_info: 'x86_64-linux-6.1.0-28-amd64',
      build_info: '(local build)',
      argv,
    } as Record<string, unknown>,
  };
  const drive = drives.find((d) => d.device === device);
  if (!drive) {
    header.smartctl.messages = [
      { string: `Smartctl open device: /dev/${device} failed: No such device`, severity: 'error' },
    ];
    header.smartctl.exit_status = 2;
    return { code: 2, stdout: `${JSON.stringify(header, null, 2)}\n`, stderr: '' };
  }
  // Bit 3 of smartctl's exit status: "SMART status check returned DISK FAILING".
  const exitStatus = drive.smart_ok ? 0 : 8;
  header.smartctl.exit_status = exitStatus;
  const isNvme = drive.type === 'nvme';
  const tran = driveModel(drive).tran;
  const doc = {
    ...header,
    local_time: { time_t: 1795400000, asctime: 'Mon Nov 23 03:13:20 2026 UTC' },
    device: isNvme
      ? { name: `/dev/${device}`, info_name: `/dev/${device}`, type: 'nvme', protocol: 'NVMe' }
      : tran === 'sas'
        ? { name: `/dev/${device}`, info_name: `/dev/${device}`, type: 'scsi', protocol: 'SCSI' }
        : { name: `/dev/${device}`, info_name: `/dev/${device} [SAT]`, type: 'sat', protocol: 'ATA' },
    smart_status: isNvme
      ? { passed: drive.smart_ok, nvme: { value: drive.smart_ok ? 0 : 4 } }
      : { passed: drive.smart_ok },
  };
  return { code: exitStatus, stdout: `${JSON.stringify(doc, null, 2)}\n`, stderr: '' };
}
