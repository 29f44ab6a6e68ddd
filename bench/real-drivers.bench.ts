import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCephCliDriver } from '../drivers/real/ceph-cli';
import { cephReadLimit } from '../drivers/real/ceph-read-limits';
import { createSshShellDriver } from '../drivers/real/ssh-shell';
import type { CephDriver } from '../drivers/types';
import { scaleCluster, type ScaleCluster } from '../test/helpers/ceph-scale';
import { startCephSshPeer, type CephSshPeer } from '../test/helpers/ceph-ssh-peer';
import { recordRow } from './table';
import { report } from './targets';

/**
 * Real drivers at Pawsey size (issue 14): the real Ceph CLI driver over real SSH against a test peer
 * serving real-sized `ceph` JSON of a 5,000-OSD, 210-host cluster (test/helpers/ceph-scale.ts). The
 * reads a reboot, a drain and an upgrade make must all parse, and none may be wider than it needs:
 * the commands sent are exactly the narrow ones below, each answer within its read's limit
 * (drivers/real/ceph-read-limits.ts). No baseline: the figure is a yes/no plus the sizes.
 */
const OSDS = Number(process.env.BENCH_REAL_DRIVERS_OSDS ?? 5_000);
const HOSTS = Math.max(1, Math.round((OSDS * 210) / 5_000));
let cluster: ScaleCluster;
let peer: CephSshPeer;
let ceph: CephDriver;

beforeAll(async () => {
  cluster = scaleCluster({ osds: OSDS, hosts: HOSTS });
  peer = await startCephSshPeer((args) => cluster.answer(args));
  const ssh = createSshShellDriver({ readyTimeoutMs: 10_000 });
  ceph = createCephCliDriver({
    adminShell: () => ssh.connect(peer.target),
    hostShell: () => ssh.connect(peer.target),
  });
});

afterAll(async () => {
  await peer?.close();
});

const FLUSH = ['tell osd.* flush_pg_stats', 'pg dump osds'];
/** The narrow reads each driver call may make, in order (what it needs and nothing wider). */
const NARROW: Record<string, string[]> = {
  nooutHosts: ['health detail'],
  okToStop: [...FLUSH, 'osd ok-to-stop'],
  osds: [...FLUSH, 'osd tree', 'osd df', 'osd metadata'],
  status: [...FLUSH, 'status', 'health detail'],
  // osd dump only for pg_temp, which no narrower command carries.
  pgPlacement: [...FLUSH, 'osd dump', 'pg dump pgs_brief', 'osd df'],
  daemonVersions: ['mon metadata', 'mgr metadata', 'osd metadata'],
  versions: ['versions'],
  mgrMap: ['mgr dump'],
  // require_osd_release is printed only in the OSD map.
  requireOsdRelease: ['osd require-osd-release reef', 'osd dump'],
};

describe('bench: real drivers at 5,000 OSDs', () => {
  it('the Ceph reads of a reboot, a drain and an upgrade all parse, each narrow and within its limit', async () => {
    const host = cluster.hosts[3]!;
    const osdIds = cluster.osdsOf.get(host)!;
    const calls: Array<[keyof typeof NARROW, () => Promise<unknown>]> = [
      // reboot
      ['nooutHosts', () => ceph.nooutHosts()],
      ['okToStop', () => ceph.okToStop(osdIds)],
      ['osds', () => ceph.osds()],
      ['status', () => ceph.status()],
      // drain
      ['pgPlacement', () => ceph.pgPlacement([osdIds[0]!])],
      // upgrade
      ['daemonVersions', () => ceph.daemonVersions()],
      ['versions', () => ceph.versions()],
      ['mgrMap', () => ceph.mgrMap()],
      ['requireOsdRelease', () => ceph.requireOsdRelease('18.2.7')],
    ];
    const failures: string[] = [];
    const wide: string[] = [];
    const started = Date.now();
    for (const [name, call] of calls) {
      const from = peer.calls.length;
      await call().catch((err: unknown) =>
        failures.push(`${name}: ${err instanceof Error ? err.message : String(err)}`),
      );
      const sent = peer.calls.slice(from).map((c) => c.args.replace(/^osd ok-to-stop .*/, 'osd ok-to-stop'));
      if (JSON.stringify(sent) !== JSON.stringify(NARROW[name])) wide.push(`${name}: ${sent.join(', ')}`);
    }
    const seconds = (Date.now() - started) / 1000;
    const over = peer.calls.filter((c) => c.bytes > cephReadLimit(c.args.split(' ')));
    const largest = peer.calls.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    const total = peer.calls.reduce((sum, c) => sum + c.bytes, 0);
    const pass = failures.length === 0 && wide.length === 0 && over.length === 0;
    report('real drivers', {
      osds: OSDS,
      hosts: HOSTS,
      reads: peer.calls.length,
      largest: `${largest.args}=${Math.round(largest.bytes / 1024)}KiB`,
      total_MiB: (total / 1024 / 1024).toFixed(1),
      seconds: seconds.toFixed(1),
    });
    recordRow({
      figure: `real drivers: the Ceph reads of a reboot, drain and upgrade at ${OSDS.toLocaleString('en')} OSDs`,
      value: `${pass ? 'all parse' : `${failures.length} failed`}; largest read ${Math.round(largest.bytes / 1024).toLocaleString('en')} KiB (${largest.args}); ${(total / 1024 / 1024).toFixed(1)} MiB in ${peer.calls.length} reads`,
      baseline: '—',
      ratio: null,
      goal: 'all parse; no read over what it needs',
      pass,
    });
    expect(failures).toEqual([]);
    expect(wide).toEqual([]);
    expect(over.map((c) => `${c.args}: ${c.bytes}`)).toEqual([]);
  }, 300_000);
});
