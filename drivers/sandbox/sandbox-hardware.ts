/**
 * The hardware of a simulated machine, derived from its hostname alone: the same name always gets
 * the same server, so demos and tests are reproducible and a re-registered node keeps its drives.
 */
import { createHash } from 'node:crypto';
import type { Drive } from '../../db/database';

export interface SandboxHardware {
  cpu_cores: number;
  ram_gb: number;
  drives: Drive[];
}

/** Real capacities in bytes (what lsblk -b prints); size_gb is what the inventory derives from them. */
const DRIVE_MODELS: Record<Drive['type'], { bytes: number; tran: string; model: string }[]> = {
  nvme: [
    { bytes: 1_920_383_410_176, tran: 'nvme', model: 'SAMSUNG MZQL21T9HCJR-00A07' },
    { bytes: 3_840_755_982_336, tran: 'nvme', model: 'SAMSUNG MZQL23T8HCLS-00A07' },
    { bytes: 7_681_501_126_656, tran: 'nvme', model: 'SAMSUNG MZQL27T6HBLA-00A07' },
  ],
  ssd: [
    { bytes: 960_197_124_096, tran: 'sata', model: 'INTEL SSDSC2KB960G8' },
    { bytes: 1_920_383_410_176, tran: 'sata', model: 'INTEL SSDSC2KB019T8' },
    { bytes: 3_840_755_982_336, tran: 'sata', model: 'INTEL SSDSC2KB038T8' },
  ],
  hdd: [
    { bytes: 8_001_563_222_016, tran: 'sas', model: 'ST8000NM001A' },
    { bytes: 12_000_138_625_024, tran: 'sas', model: 'ST12000NM002G' },
    { bytes: 16_000_900_661_248, tran: 'sas', model: 'ST16000NM002G' },
    { bytes: 18_000_207_937_536, tran: 'sas', model: 'ST18000NM004J' },
  ],
};

export interface DriveModel {
  bytes: number;
  tran: string;
  model: string;
}

/** The model behind a stored Drive (size_gb is floor(bytes / 1e9) of one of the models above). */
export function driveModel(drive: Drive): DriveModel {
  const found = DRIVE_MODELS[drive.type].find((m) => Math.floor(m.bytes / 1e9) === drive.size_gb);
  return (
    found ?? { bytes: drive.size_gb * 1e9, tran: drive.type === 'nvme' ? 'nvme' : 'sata', model: 'SIMULATED DISK' }
  );
}

export function hardwareFor(hostname: string): SandboxHardware {
  const h = createHash('sha256').update(`nodefoundry-sandbox-hardware:${hostname}`).digest();
  const pick = <T>(list: readonly T[], byte: number): T => list[h[byte]! % list.length]!;
  const cpu_cores = pick([16, 24, 32, 48, 64], 0);
  const ram_gb = pick([128, 192, 256, 384, 512], 1);
  const count = 4 + (h[2]! % 5);
  // Three common storage-server layouts: all-flash NVMe, SATA SSD, and HDD capacity with NVMe beside it.
  const layout = pick(['nvme', 'ssd', 'hybrid'] as const, 3);
  const types: Drive['type'][] = [];
  for (let i = 0; i < count; i++) {
    if (layout === 'hybrid') types.push(i < 1 + (h[4]! % 2) ? 'nvme' : 'hdd');
    else types.push(layout);
  }
  // One model per type and host, as a server is usually bought with identical drives.
  const modelOf = (t: Drive['type'], salt: number) => pick(DRIVE_MODELS[t], 5 + salt);
  let nvmeIndex = 0;
  let sdIndex = 0;
  const drives: Drive[] = types.map((type) => {
    const model = modelOf(type, type === 'nvme' ? 0 : type === 'ssd' ? 1 : 2);
    const device = type === 'nvme' ? `nvme${nvmeIndex++}n1` : `sd${String.fromCharCode(97 + sdIndex++)}`;
    return { device, size_gb: Math.floor(model.bytes / 1e9), type, smart_ok: true };
  });
  return { cpu_cores, ram_gb, drives };
}
