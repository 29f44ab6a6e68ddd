import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOp, LabSession, stepTimes } from './lab-session';
import {
  codes,
  MONITOR_ENV,
  MONITOR_INTERVAL_MS,
  WEBHOOK_DISPATCH_MS,
  waitHealth,
  waitUntil,
  WebhookReceiver,
} from './lab-monitor';

/**
 * The headline journey (issue 10), for real, through the API with a live key, the real worker, real
 * Temporal and PostgreSQL, on the release lab (test/lab/release/up.sh: 3 bare trixie nodes, Reef
 * 18.2.7 packages installed, no cluster; drives sdb and sdc each; IPMI BMCs; a local Tentacle 20.2.4
 * apt repository in every node):
 *
 *   register the nodes → create a Reef cluster with the package deployer → a pool with data,
 *   checksummed → the cluster monitor sees an OSD daemon stopped by hand (OSD_DOWN in /health and a
 *   signed webhook) and noout set by hand (reported, not repaired) → upgrade to Tentacle node by
 *   node, paused and resumed once → drain an OSD →
 *   reboot a node through IPMI → delete the cluster.
 *
 * Each phase is timed; `ceph versions` before, during (mixed) and after the upgrade is printed. The
 * lab, API, worker and the steps it shares with upgrade-faults.test.ts are LabSession's
 * (lab-session.ts).
 */
/**
 * Its own directory and ports, so that it can run beside release-lab.test.ts (/tmp/nfrel-test, 16500)
 * and upgrade-faults.test.ts (/tmp/nffaults, 16900) in one `npm test`.
 */
const DIR = process.env.NF_JOURNEY_LAB_DIR ?? '/tmp/nfjourney';
const PORT_BASE = Number(process.env.NF_JOURNEY_LAB_PORT_BASE ?? 16700);
const POOL = 'journey';
const OBJECTS = 8;

const lab = new LabSession(DIR, PORT_BASE);
let clusterId = '';
let checksums: Record<string, string> = {};
const versions: Record<string, unknown> = {};
const readChecksums = () => lab.readChecksums(POOL, OBJECTS);

/**
 * A monitor round on real Ceph is its interval plus the time it takes to read Ceph over SSH (status,
 * OSD tree/df/metadata, osd dump, noautoscale: about a dozen `ceph` CLI calls on a loaded 2-core
 * machine); "within two rounds" is bounded with that.
 */
const MONITOR_ROUND_BOUND_MS = MONITOR_INTERVAL_MS + 5000;
/** One delivery attempt to a receiver on 127.0.0.1 (workflow start, activity, POST). */
const DELIVERY_SLACK_MS = 3000;

const receivers: { rx: WebhookReceiver; hookId: string }[] = [];
/** A webhook receiver on 127.0.0.1 subscribed (live key) to the health check events. */
async function receiver(): Promise<WebhookReceiver> {
  const rx = new WebhookReceiver();
  await rx.start();
  const r = await lab.request('POST', '/v1/webhooks', {
    url: rx.url(),
    events: ['cluster.health_check_raised', 'cluster.health_check_cleared'],
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  rx.secret = r.body.data.secret;
  receivers.push({ rx, hookId: r.body.data.id });
  return rx;
}

// The monitor watched (a round every 3 s, webhooks dispatched every second): lab-monitor.ts.
beforeAll(() => lab.start(MONITOR_ENV), 300_000);

afterAll(async () => {
  for (const { rx, hookId } of receivers) {
    await lab.request('DELETE', `/v1/webhooks/${hookId}`).catch(() => {});
    await rx.stop();
  }
  await lab.stop('journey');
  for (const [when, v] of Object.entries(versions))
    console.log(`ceph versions ${when}:\n${JSON.stringify(v, null, 1)}`);
}, 300_000);

function needCluster(): string {
  if (!clusterId) throw new Error('needs the cluster created by the create test (see the first failure)');
  return clusterId;
}

describe('the headline journey on real Reef/Tentacle packages', () => {
  it('registers the 3 lab nodes over SSH: the inventory sees each node’s two drives, SMART passed', async () => {
    // The lab's nodes each show two drives, sdb and sdc (registerNodes checks the inventory against them).
    expect(lab.lab.nodes.map((n) => n.drives)).toEqual([
      ['sdb', 'sdc'],
      ['sdb', 'sdc'],
      ['sdb', 'sdc'],
    ]);
    await lab.timed('register 3 nodes', () => lab.registerNodes());
  }, 180_000);

  it('creates a Reef cluster with the package deployer: 3 mons, 2 mgrs, one OSD per drive, HEALTH_OK, PGs clean', async () => {
    expect(Object.keys(lab.nodeIds)).toHaveLength(3);
    const { clusterId: id, op } = await lab.timed('create cluster (reef, packages)', () =>
      lab.createReefCluster('journey'),
    );
    clusterId = id;
    console.log(`create steps: ${stepTimes(op)}`);
    lab.timings.push(`  create steps: ${stepTimes(op)}`);
    expect(op.status, describeOp(op)).toBe('completed');
    const c = (await lab.request('GET', `/v1/clusters/${clusterId}`)).body.data;
    expect(c).toMatchObject({
      deployment: 'packages',
      ceph_version: 'reef',
      ceph_point_version: '18.2.7',
      status: 'HEALTH_OK',
      osd_count: 6,
    });

    // Ceph's own view, from node 1's CLI.
    const s = await lab.waitHealthy(60);
    expect(s.health.status).toBe('HEALTH_OK');
    expect([...s.quorum_names].sort()).toEqual(['labnode1', 'labnode2', 'labnode3']);
    const mgr = await lab.cephJson('mgr', 'dump');
    expect([mgr.active_name, ...mgr.standbys.map((x: any) => x.name)].sort()).toEqual(['labnode1', 'labnode2']);
    const meta = await lab.cephJson<any[]>('osd', 'metadata');
    expect(meta).toHaveLength(6);
    expect(meta.map((m) => m.hostname).sort()).toEqual([
      'labnode1',
      'labnode1',
      'labnode2',
      'labnode2',
      'labnode3',
      'labnode3',
    ]);
    expect(meta.every((m) => m.osd_objectstore === 'bluestore')).toBe(true);
    // Debian's layout: systemd units of each node, enabled so that they start at boot.
    const units = await lab.exec(2, 'ls /etc/systemd/system/ceph-*.target.wants/');
    expect(units).toMatch(/ceph-mon@labnode2\.service/);
    expect(units).toMatch(/ceph-mgr@labnode2\.service/);
    expect(units).toMatch(/ceph-osd@\d+\.service[\s\S]*ceph-osd@\d+\.service/);
    versions.before = await lab.cephJson('versions');
  }, 600_000);

  it('creates a pool through the API and writes checksummed data into it', async () => {
    const id = needCluster();
    checksums = await lab.timed('create pool + write 8 MiB', () => lab.poolWithData(id, POOL, OBJECTS));
    expect(Object.keys(checksums)).toHaveLength(OBJECTS);
    expect(await readChecksums()).toEqual(checksums);
    await lab.waitHealthy(120);
  }, 300_000);

  it('the cluster monitor on real Ceph: an OSD daemon stopped by hand → that OSD down, HEALTH_WARN OSD_DOWN within two rounds and a signed webhook; started again → cleared, HEALTH_OK', async () => {
    const id = needCluster();
    await lab.timed('monitor: OSD daemon stopped and started', async () => {
      const rx = await receiver();
      // The monitor is running and sees a healthy cluster (the pool's writes are behind us).
      await waitHealth(lab, id, 'the monitor to see HEALTH_OK', 30_000, (h) => h.status === 'HEALTH_OK');
      const osds = (await lab.request('GET', `/v1/clusters/${id}/osds`)).body.data;
      const victim = osds.find((o: any) => o.host === 'labnode2' && o.status === 'up');
      expect(victim, JSON.stringify(osds)).toBeDefined();
      const osd: number = victim.osd_id;

      // The lab's way to stop a unit: the node's systemctl (SIGTERM; returns once the daemon exited).
      // Every /health answer polled is kept: its observed_at values give the monitor's real period.
      const rounds = new Set<string>();
      const watch = (until: (h: any) => boolean) => (h: any) => (rounds.add(h.observed_at), until(h));
      const t0 = Date.now();
      let t1 = 0;
      try {
        await lab.exec(2, `systemctl stop ceph-osd@${osd}`);
        const stopped = Date.now();
        // Ceph marks the OSD down in its OSD map at once and raises OSD_DOWN at its next health
        // tick, so one round may read the OSD down with HEALTH_OK still: wait for both.
        await waitHealth(
          lab,
          id,
          `osd.${osd} down in /health`,
          60_000,
          watch((h) => h.osds_down.some((o: any) => o.osd_id === osd)),
        );
        const seenDown = Date.now();
        const down = await waitHealth(
          lab,
          id,
          'HEALTH_WARN with OSD_DOWN',
          60_000,
          watch((h) => h.status === 'HEALTH_WARN' && codes(h).includes('OSD_DOWN')),
        );
        const seenWarn = Date.now();
        expect(down.osds_down).toEqual([{ osd_id: osd, host: 'labnode2', in: true }]);
        expect(down.checks.find((c: any) => c.code === 'OSD_DOWN')).toMatchObject({
          source: 'ceph',
          severity: 'HEALTH_WARN',
        });
        const listed = (await lab.request('GET', `/v1/clusters/${id}/osds`)).body.data;
        expect(listed.find((o: any) => o.osd_id === osd)).toMatchObject({ host: 'labnode2', status: 'down' });
        const raised = await waitUntil('the OSD_DOWN raised webhook', 30_000, () =>
          rx.find(
            t0,
            (e) => e.type === 'cluster.health_check_raised' && e.cluster_id === id && e.data.code === 'OSD_DOWN',
          ),
        );
        expect(raised.signed).toBe(true);
        expect(raised.event.data).toMatchObject({ code: 'OSD_DOWN', source: 'ceph', severity: 'HEALTH_WARN' });

        t1 = Date.now();
        await lab.exec(2, `systemctl start ceph-osd@${osd}`);
        const up = await waitHealth(
          lab,
          id,
          `osd.${osd} up again`,
          60_000,
          watch((h) => h.osds_down.length === 0 && !codes(h).includes('OSD_DOWN')),
        );
        const seenUp = Date.now();
        expect(up.osds_down).toEqual([]);
        const cleared = await waitUntil('the OSD_DOWN cleared webhook', 30_000, () =>
          rx.find(
            t1,
            (e) => e.type === 'cluster.health_check_cleared' && e.cluster_id === id && e.data.code === 'OSD_DOWN',
          ),
        );
        expect(cleared.signed).toBe(true);
        // Peering and recovery of what the OSD missed: HEALTH_OK again.
        await waitHealth(
          lab,
          id,
          'HEALTH_OK again',
          60_000,
          watch((h) => h.status === 'HEALTH_OK'),
        );
        const ok = Date.now();
        const period = [...rounds].map((r) => Date.parse(r)).sort((a, b) => a - b);
        const gaps = period.slice(1).map((v, i) => v - period[i]!);
        const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
        const figures =
          `monitor on real Ceph (interval ${MONITOR_INTERVAL_MS} ms, dispatch ${WEBHOOK_DISPATCH_MS} ms): ` +
          `systemctl stop ${s(stopped - t0)}; fault → osd down in /health ${s(seenDown - t0)}, ` +
          `→ HEALTH_WARN OSD_DOWN ${s(seenWarn - t0)}, → signed webhook ${s(raised.at - t0)}; ` +
          `start → up in /health ${s(seenUp - t1)}, → cleared webhook ${s(cleared.at - t1)}, ` +
          `→ HEALTH_OK ${s(ok - t1)}; round period (observed_at) min ${s(Math.min(...gaps))} ` +
          `max ${s(Math.max(...gaps))} over ${gaps.length}`;
        console.log(figures);
        lab.timings.push(`  ${figures}`);
        // Within two monitor rounds (a round is its interval plus the time it takes to read Ceph),
        // the webhook within one dispatch period and a delivery more.
        expect(seenWarn - t0).toBeLessThanOrEqual(2 * MONITOR_ROUND_BOUND_MS);
        expect(raised.at - t0).toBeLessThanOrEqual(
          2 * MONITOR_ROUND_BOUND_MS + WEBHOOK_DISPATCH_MS + DELIVERY_SLACK_MS,
        );
      } finally {
        // Whatever failed above, the OSD runs again for the rest of the journey.
        if (!t1) await lab.exec(2, `systemctl start ceph-osd@${osd}`);
      }
    });
  }, 300_000);

  it('the cluster monitor on real Ceph: noout on a host and the cluster-wide noout set by hand → NF_NOOUT_ORPHANED and NF_FLAGS_ORPHANED, still set two rounds later (not ours: not repaired); unset → cleared', async () => {
    const id = needCluster();
    await lab.timed('monitor: noout set by hand, reported, unset', async () => {
      const rx = await receiver();
      const t0 = Date.now();
      try {
        // By hand on the admin node (node 1), as an operator would.
        await lab.ctl('ceph', 'osd', 'set-group', 'noout', 'labnode2');
        await lab.ctl('ceph', 'osd', 'set', 'noout');
        const seen = await waitHealth(
          lab,
          id,
          'NF_NOOUT_ORPHANED and NF_FLAGS_ORPHANED',
          4 * MONITOR_ROUND_BOUND_MS,
          (h) => codes(h).includes('NF_NOOUT_ORPHANED') && codes(h).includes('NF_FLAGS_ORPHANED'),
        );
        expect(seen.noout_hosts).toEqual(['labnode2']);
        expect(seen.flags).toContain('noout');
        expect(seen.checks.find((c: any) => c.code === 'NF_NOOUT_ORPHANED')).toMatchObject({
          source: 'nodefoundry',
          severity: 'HEALTH_WARN',
        });
        expect(seen.checks.find((c: any) => c.code === 'NF_NOOUT_ORPHANED').summary).toContain('labnode2');
        // Two more rounds later: still reported, and still set in Ceph (the monitor repairs only what
        // the change ledger shows an operation of ours left; this has no entry).
        const rounds = new Set([seen.observed_at]);
        const later = await waitHealth(lab, id, 'two more monitor rounds', 4 * MONITOR_ROUND_BOUND_MS, (h) => {
          rounds.add(h.observed_at);
          return rounds.size >= 3;
        });
        expect(codes(later)).toEqual(expect.arrayContaining(['NF_NOOUT_ORPHANED', 'NF_FLAGS_ORPHANED']));
        const dump = await lab.cephJson('osd', 'dump');
        expect(dump.crush_node_flags).toEqual({ labnode2: ['noout'] });
        expect(dump.flags.split(',')).toContain('noout');
        for (const code of ['NF_NOOUT_ORPHANED', 'NF_FLAGS_ORPHANED']) {
          const got = await waitUntil(`the ${code} raised webhook`, 30_000, () =>
            rx.find(t0, (e) => e.type === 'cluster.health_check_raised' && e.cluster_id === id && e.data.code === code),
          );
          expect(got.signed).toBe(true);
        }
      } finally {
        await lab.ctl('ceph', 'osd', 'unset-group', 'noout', 'labnode2');
        await lab.ctl('ceph', 'osd', 'unset', 'noout');
      }
      const t1 = Date.now();
      const clear = await waitHealth(lab, id, 'the drift checks cleared', 4 * MONITOR_ROUND_BOUND_MS, (h) =>
        codes(h).every((c) => !c.startsWith('NF_')),
      );
      expect(clear.noout_hosts).toEqual([]);
      expect(clear.flags).not.toContain('noout');
      for (const code of ['NF_NOOUT_ORPHANED', 'NF_FLAGS_ORPHANED']) {
        await waitUntil(`the ${code} cleared webhook`, 30_000, () =>
          rx.find(t1, (e) => e.type === 'cluster.health_check_cleared' && e.cluster_id === id && e.data.code === code),
        );
      }
      // No repair event: the monitor never undid the operator's flags.
      expect(rx.received.filter((r) => r.at >= t0 && r.event?.data?.code === 'NF_DRIFT_REPAIRED')).toEqual([]);
      await waitHealth(lab, id, 'HEALTH_OK again', 30_000, (h) => h.status === 'HEALTH_OK');
    });
  }, 300_000);

  it('upgrades to Tentacle node by node (max_concurrent 1), paused and resumed once: every daemon on 20.2.4, require-osd-release tentacle, data intact, no flag left', async () => {
    const id = needCluster();
    let opId = '';
    const op = await lab
      .timed('upgrade reef → tentacle (3 nodes, in-place apt)', async () => {
        const r = await lab.request('POST', `/v1/clusters/${id}/upgrade`, {
          ceph_version: 'tentacle',
          max_concurrent: 1,
        });
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        opId = r.body.data.operation_id;
        // Pause once in the middle: when the OSD hosts are being upgraded.
        const mid = await lab.waitForOperation(
          opId,
          (o) =>
            o.current_step === 'upgrade_osd_hosts' || ['completed', 'failed', 'cancelled', 'paused'].includes(o.status),
        );
        expect(mid.status, describeOp(mid)).toBe('in_progress');
        const p = await lab.request('POST', `/v1/operations/${opId}/pause`);
        expect(p.status, JSON.stringify(p.body)).toBeLessThan(300);
        const paused = await lab.waitForOperation(opId, (o) => o.status !== 'in_progress');
        expect(paused.status, describeOp(paused)).toBe('paused');
        versions.mixed = await lab.cephJson('versions');
        const resumed = await lab.request('POST', `/v1/operations/${opId}/resume`);
        expect(resumed.status, JSON.stringify(resumed.body)).toBeLessThan(300);
        return lab.waitForOperation(opId, (o) => o.status !== 'in_progress', 900_000);
      })
      .finally(async () => {
        // An upgrade that stopped (paused on a failure) holds the cluster: cancel it so that the rest
        // of the journey can run, and show where it stopped.
        if (!opId) return;
        const o = (await lab.request('GET', `/v1/operations/${opId}`)).body.data;
        if (o.status === 'paused' || o.status === 'in_progress') {
          await lab.request('POST', `/v1/operations/${opId}/cancel`);
          await lab.waitForOperation(opId);
        }
      });
    lab.timings.push(`  upgrade steps: ${stepTimes(op)}`);
    expect(op.status, describeOp(op)).toBe('completed');
    versions.after = await lab.cephJson('versions');
    const mixedKeys = Object.keys((versions.mixed as any).overall);
    expect(mixedKeys.some((k) => k.includes('18.2.7'))).toBe(true);
    expect(mixedKeys.some((k) => k.includes('20.2.4'))).toBe(true);
    const after = versions.after as any;
    for (const type of ['mon', 'mgr', 'osd', 'overall'])
      expect(
        Object.keys(after[type]).every((k) => k.startsWith('ceph version 20.2.4')),
        type,
      ).toBe(true);
    expect(Object.values(after.osd as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(6);
    expect((await lab.cephJson('osd', 'dump')).require_osd_release).toBe('tentacle');
    expect(await readChecksums()).toEqual(checksums);
    const dump = await lab.cephJson('osd', 'dump');
    expect(dump.flags.split(',')).not.toContain('noout');
    expect(Object.keys(dump.crush_node_flags ?? {})).toEqual([]);
    // Tentacle keeps the cluster's cephx keys (decision 4): only the AUTH_INSECURE_* checks remain.
    await lab.waitHealthy(180, ['AUTH_INSECURE_']);
  }, 1_200_000);

  it('drains an OSD to 0 through the API (its PGs leave it), then back to full weight', async () => {
    const id = needCluster();
    const osd = 1;
    await lab.timed('drain osd.1 to 0 and back', async () => {
      for (const weight of [0, 1]) {
        const r = await lab.request('POST', `/v1/clusters/${id}/osds/${osd}/reweight`, { weight });
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        const op = await lab.waitForOperation(r.body.data.operation_id);
        expect(op.status, describeOp(op)).toBe('completed');
        if (weight === 0) {
          const df = await lab.cephJson<{ nodes: { id: number; crush_weight: number; pgs: number }[] }>('osd', 'df');
          expect(df.nodes.find((n) => n.id === osd)).toMatchObject({ crush_weight: 0, pgs: 0 });
        }
      }
    });
    await lab.waitHealthy(180, ['AUTH_INSECURE_']);
    expect(await readChecksums()).toEqual(checksums);
  }, 600_000);

  it('reboots a node through IPMI (graceful, noout): its OSDs come back by themselves (enabled units)', async () => {
    needCluster();
    const op = await lab.timed('reboot labnode3 through IPMI', async () => {
      const r = await lab.request('POST', `/v1/nodes/${lab.nodeIds.node3}/reboot`, {
        method: 'graceful',
        drain_osds: true,
      });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      return lab.waitForOperation(r.body.data.operation_id);
    });
    lab.timings.push(`  reboot steps: ${stepTimes(op)}`);
    expect(op.status, describeOp(op)).toBe('completed');
    const dump = await lab.cephJson('osd', 'dump');
    expect(dump.osds.every((o: any) => o.up === 1 && o.in === 1)).toBe(true);
    expect(Object.keys(dump.crush_node_flags ?? {})).toEqual([]);
    await lab.waitHealthy(180, ['AUTH_INSECURE_']);
    expect(await readChecksums()).toEqual(checksums);
  }, 600_000);

  it('deletes the cluster: daemons stopped, devices zapped, nodes pending', async () => {
    const id = needCluster();
    const op = await lab.timed('delete cluster', () => lab.deleteCluster(id));
    lab.timings.push(`  delete steps: ${stepTimes(op)}`);
    expect(op.status, describeOp(op)).toBe('completed');
    expect(op.logs.map((l: any) => l.message).join('\n')).toContain('6 OSD device(s) wiped');
    expect((await lab.request('GET', `/v1/clusters/${id}`)).status).toBe(404);
    // Every node pending; in each no Ceph unit active, no data, config or keyring, and /dev/sdb and
    // /dev/sdc (the lab's drives, checked at registration) without a bluestore label.
    await lab.expectNodesBare();
  }, 300_000);
});
