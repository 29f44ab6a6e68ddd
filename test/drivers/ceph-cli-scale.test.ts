import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toFailure } from '../../activities/failures';
import { createCephCliDriver } from '../../drivers/real/ceph-cli';
import { cephReadLimit } from '../../drivers/real/ceph-read-limits';
import { createSshShellDriver } from '../../drivers/real/ssh-shell';
import type { CephDriver } from '../../drivers/types';
import { REEF, scaleCluster, type ScaleCluster } from '../helpers/ceph-scale';
import { startCephSshPeer, type CephSshPeer } from '../helpers/ceph-ssh-peer';

/**
 * The real Ceph CLI driver over real SSH against a Pawsey-size cluster (issue 14): 5,000 OSDs on 210
 * hosts, ~164,000 PGs, every answer built from real Ceph entries at its real size (test/helpers/
 * ceph-scale.ts). On i14-base the 1 MiB SSH cap cut `ceph osd dump` (4.6 MiB here; it passes 1 MiB at
 * ~1,150 OSDs) into a non-retryable command_failed, so status() and nooutHosts() broke; here every read
 * a reboot, a drain and an upgrade makes parses, each is the narrow command, and an answer over its
 * limit is the retryable output_truncated.
 */
const OSDS = 5_000;
const HOSTS = 210;
let cluster: ScaleCluster;
let peer: CephSshPeer;
let ceph: CephDriver;
/** The same without the PG stats flush (the monitor's reads). */
let unflushed: CephDriver;
let host: string;
let hostOsds: number[];

beforeAll(async () => {
  cluster = scaleCluster({ osds: OSDS, hosts: HOSTS, nooutHosts: ['pawsey-stor002'] });
  peer = await startCephSshPeer((args) => cluster.answer(args));
  // The production SSH driver: its session limit (1 MiB) stays for everything not a sized ceph read.
  const ssh = createSshShellDriver({ readyTimeoutMs: 10_000 });
  ceph = createCephCliDriver({
    adminShell: () => ssh.connect(peer.target),
    hostShell: () => ssh.connect(peer.target),
    pgStatsFlushMs: 10_000,
  });
  unflushed = createCephCliDriver({
    adminShell: () => ssh.connect(peer.target),
    hostShell: () => ssh.connect(peer.target),
    pgStatsFlushMs: 0,
  });
  host = cluster.hosts[7]!;
  hostOsds = cluster.osdsOf.get(host)!;
}, 60_000);

afterAll(async () => {
  await peer?.close();
});

/** Runs `fn` and returns the ceph reads it made (arguments), each checked against its limit. */
async function readsOf(fn: () => Promise<void>): Promise<string[]> {
  const from = peer.calls.length;
  await fn();
  const calls = peer.calls.slice(from).filter((c) => !c.args.startsWith('systemctl') && !c.args.startsWith('sudo'));
  for (const c of calls)
    expect(c.bytes, `${c.args}: ${c.bytes} bytes`).toBeLessThanOrEqual(cephReadLimit(c.args.split(' ')));
  return calls.map((c) => c.args);
}

const FLUSH = ['tell osd.* flush_pg_stats', 'pg dump osds'];

describe('real Ceph driver at 5,000 OSDs over SSH (issue 14)', () => {
  it('the reads of a host reboot all parse, and each is the narrow one (no osd dump)', async () => {
    const ids = hostOsds.join(' ');
    const reads = await readsOf(async () => {
      // ceph.activities: noout on the host, ok-to-stop, stop, wait down, start, wait up + clean, unset.
      expect(await ceph.nooutHosts()).toEqual(['pawsey-stor002']);
      await ceph.setGroupNoout(host);
      expect(await ceph.nooutHosts()).toEqual(['pawsey-stor002', host].sort());
      expect(await ceph.okToStop(hostOsds)).toEqual({ ok: true, reason: null });
      await ceph.stopOsds(host, hostOsds);
      const osds = await ceph.osds();
      expect(osds).toHaveLength(OSDS);
      expect(osds.filter((o) => o.host === host).map((o) => o.id)).toEqual(hostOsds);
      await ceph.startOsds(host, hostOsds);
      const status = await ceph.status();
      expect(status).toMatchObject({ osds_total: OSDS, osds_up: OSDS, flags: ['noout'] });
      expect(status.pgs_active_clean).toBe(status.pgs_total);
      await ceph.unsetGroupNoout(host);
      expect(await ceph.nooutHosts()).toEqual(['pawsey-stor002']);
    });
    expect(reads).toEqual([
      'health detail',
      `osd set-group noout ${host}`,
      'health detail',
      ...FLUSH,
      `osd ok-to-stop ${ids}`,
      ...FLUSH,
      'osd tree',
      'osd df',
      'osd metadata',
      ...FLUSH,
      'status',
      'health detail',
      `osd unset-group noout ${host}`,
      'health detail',
    ]);
  }, 120_000);

  it("the reads of a drain (an OSD's placement) all parse; osd dump only for pg_temp, which nothing narrower carries", async () => {
    // A drain's other reads (osds, ok-to-stop) are the reboot's, above: only its placement is new.
    const id = hostOsds[0]!;
    const reads = await readsOf(async () => {
      const placement = await ceph.pgPlacement([id]);
      expect(placement.pgs_total).toBeGreaterThan(160_000);
      expect(placement.pgs_active_clean).toBe(placement.pgs_total);
      expect(placement.osds[0]!.pgs).toBeGreaterThan(0);
    });
    expect(reads).toEqual([...FLUSH, 'osd dump', 'pg dump pgs_brief', 'osd df']);
  }, 120_000);

  it('the reads of an upgrade (preflight, versions, mgr map, noout) all parse', async () => {
    const reads = await readsOf(async () => {
      const daemons = await ceph.daemonVersions();
      expect(daemons.filter((d) => d.type === 'osd')).toHaveLength(OSDS);
      expect(daemons.every((d) => d.release === 'reef')).toBe(true);
      expect((await ceph.versions()).osd).toEqual({ [REEF]: OSDS });
      expect((await ceph.mgrMap()).active).toBe(cluster.hosts[0]);
      // Its status, osds and ok-to-stop reads are the reboot's, above.
      expect(await ceph.nooutHosts()).toEqual(['pawsey-stor002']);
      // The last step: require-osd-release, read back from the OSD map (the only place it is printed).
      expect(await ceph.requireOsdRelease('18.2.7')).toEqual({ release: 'reef' });
    });
    expect(reads).toEqual([
      'mon metadata',
      'mgr metadata',
      'osd metadata',
      'versions',
      'mgr dump',
      'health detail',
      'osd require-osd-release reef',
      'osd dump',
    ]);
  }, 120_000);

  it('the PG stats flush waits for the mgr at 5,000 OSDs (on i14-base the cut pg dump osds made it give up at once, silently)', async () => {
    // The mgr is one stats report behind every OSD at the first read: ok-to-stop is asked only
    // once it holds what each OSD just flushed.
    cluster.staleStats(1);
    const id = hostOsds[0]!;
    const reads = await readsOf(async () => {
      expect(await ceph.okToStop([id])).toEqual({ ok: true, reason: null });
    });
    expect(reads).toEqual([...FLUSH, 'pg dump osds', `osd ok-to-stop ${id}`]);
  }, 120_000);

  it('an answer over its read limit is the retryable output_truncated (a transient activity failure), never a cut string or command_failed', async () => {
    // 10 MiB of health detail (a limit of 8 MiB): a real JSON document, only too long.
    const huge = JSON.stringify({
      status: 'HEALTH_WARN',
      checks: {
        OSD_DOWN: {
          severity: 'HEALTH_WARN',
          summary: { message: 'many' },
          detail: Array.from({ length: 200_000 }, (_, i) => ({ message: `osd.${i} (root=default,host=x) is down` })),
        },
      },
      mutes: [],
    });
    expect(huge.length).toBeGreaterThan(cephReadLimit(['health', 'detail']));
    peer.overrides.set('health detail', huge);
    try {
      const err = await ceph.nooutHosts().catch((e: unknown) => e);
      expect(err).toMatchObject({ type: 'output_truncated', retryable: true });
      expect((err as Error).message).toMatch(/printed more than 8388608 bytes on stdout/);
      // The activity layer turns it into a failure Temporal retries, with its own code.
      expect(toFailure(err)).toMatchObject({ type: 'output_truncated', nonRetryable: false });
      await expect(unflushed.status()).rejects.toMatchObject({ type: 'output_truncated', retryable: true });
    } finally {
      peer.overrides.clear();
    }
    // The next answer that fits parses again.
    expect(await ceph.nooutHosts()).toEqual(['pawsey-stor002']);
  }, 60_000);
});
