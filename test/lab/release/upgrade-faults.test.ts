import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOp, LabSession, stepTimes } from './lab-session';

/**
 * The faults that matter during a real Reef → Tentacle upgrade (issue 10), through the API with a
 * live key, the real worker, real Temporal and PostgreSQL, on the release lab (3 bare trixie nodes,
 * Reef 18.2.7 packages, a local Tentacle 20.2.4 apt repository): ONE cluster created with the
 * package deployer, a pool with checksummed data, then in sequence, every upgrade `max_concurrent: 1`
 * to tentacle:
 *
 *   (a) cancelled between two OSD hosts: cancelled, nothing left flagged, autoscaling restored, the
 *       cluster free for the next operation, data intact, the upgraded daemons stay on 20.2.4 and
 *       the mixed cluster is healthy;
 *   (b) an OSD host whose OSDs will not start (lab fault osd-broken): the upgrade pauses naming the
 *       host and the OSD, the host's noout unset again; fault off, resume → the host is retried;
 *   (c) the mon leader restarted while that resumed upgrade runs: the upgrade completes, every
 *       daemon on 20.2.4, require-osd-release tentacle, data intact, no flag left;
 *
 * then the cluster is deleted (nodes pending, nothing left running). Its own lab directory and port
 * base (the journey uses /tmp/nfjourney on 16700, release-lab.test.ts /tmp/nfrel-test on 16500).
 */
const DIR = process.env.NF_FAULTS_LAB_DIR ?? '/tmp/nffaults';
const PORT_BASE = Number(process.env.NF_FAULTS_LAB_PORT_BASE ?? 16900);
const POOL = 'faults';
const OBJECTS = 8;
const TARGET = '20.2.4';
const TERMINAL = ['completed', 'failed', 'cancelled'];

const lab = new LabSession(DIR, PORT_BASE);
let clusterId = '';
let checksums: Record<string, string> = {};
/** What the cluster looked like before the first upgrade: flags and each pool's autoscale mode. */
let flagsBefore: string[] = [];
let autoscaleBefore: Record<string, string> = {};

beforeAll(() => lab.start(), 300_000);
afterAll(() => lab.stop('upgrade faults'), 300_000);

function needCluster(): string {
  if (!clusterId) throw new Error('needs the cluster created by the first test (see the first failure)');
  return clusterId;
}

const logsOf = (op: any): string[] => (op.logs ?? []).map((l: any) => l.message as string);
const batchesOf = (op: any) => logsOf(op).filter((m) => m.startsWith('batch: '));

async function autoscaleModes(): Promise<Record<string, string>> {
  const pools = await lab.cephJson<any[]>('osd', 'pool', 'ls', 'detail');
  return Object.fromEntries(pools.map((p) => [p.pool_name, p.pg_autoscale_mode]));
}

/** osd id → { host, version } from `ceph osd metadata` (what each OSD reported when it booted). */
async function osds(): Promise<Record<number, { host: string; version: string }>> {
  const meta = await lab.cephJson<any[]>('osd', 'metadata');
  return Object.fromEntries(meta.map((m) => [m.id, { host: m.hostname, version: String(m.ceph_version) }]));
}
const osdIdsOf = (all: Record<number, { host: string }>, host: string) =>
  Object.entries(all)
    .filter(([, o]) => o.host === host)
    .map(([id]) => Number(id));

/** Nothing NodeFoundry sets is left: the cluster's flags as before, no per-host flag, autoscaling as before. */
async function expectNothingLeftFlagged(): Promise<void> {
  const dump = await lab.cephJson('osd', 'dump');
  expect(dump.flags.split(',').sort()).toEqual(flagsBefore);
  expect(dump.crush_node_flags ?? {}).toEqual({});
  expect(await autoscaleModes()).toEqual(autoscaleBefore);
  expect(
    (
      await lab.exec(
        1,
        'ceph config-key exists nodefoundry/autoscale-frozen >/dev/null 2>&1 && echo frozen || echo none',
      )
    ).trim(),
  ).toBe('none');
}

async function startUpgrade(): Promise<string> {
  const r = await lab.request('POST', `/v1/clusters/${needCluster()}/upgrade`, {
    ceph_version: 'tentacle',
    max_concurrent: 1,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body.data.operation_id as string;
}

/** An upgrade a failed test left paused or running holds the cluster: cancel it so the rest can run. */
async function cancelIfRunning(opId: string): Promise<void> {
  if (!opId) return;
  const o = (await lab.request('GET', `/v1/operations/${opId}`)).body.data;
  if (o.status === 'paused' || o.status === 'in_progress' || o.status === 'pending') {
    await lab.request('POST', `/v1/operations/${opId}/cancel`);
    await lab.waitForOperation(opId, undefined, 600_000);
  }
}

describe('upgrade faults on real Reef/Tentacle packages (one cluster, in sequence)', () => {
  it('sets up: 3 nodes registered, a Reef cluster with the package deployer, a pool with checksummed data', async () => {
    await lab.timed('register 3 nodes', () => lab.registerNodes());
    const { clusterId: id, op } = await lab.timed('create cluster (reef, packages)', () =>
      lab.createReefCluster('faults'),
    );
    clusterId = id;
    lab.timings.push(`  create steps: ${stepTimes(op)}`);
    expect(op.status, describeOp(op)).toBe('completed');
    checksums = await lab.timed('create pool + write 8 MiB', () => lab.poolWithData(id, POOL, OBJECTS));
    expect(Object.keys(checksums)).toHaveLength(OBJECTS);
    expect(await lab.readChecksums(POOL, OBJECTS)).toEqual(checksums);
    await lab.waitHealthy(120);
    flagsBefore = (await lab.cephJson('osd', 'dump')).flags.split(',').sort();
    autoscaleBefore = await autoscaleModes();
    // The mgr's own pool autoscales: the upgrade's freeze and restore are visible on it.
    expect(autoscaleBefore['.mgr']).toBe('on');
    expect(Object.values(await osds())).toHaveLength(6);
  }, 900_000);

  it('(a) cancelled between two OSD hosts: cancelled, nothing left flagged, autoscaling restored, the cluster free, data intact; the upgraded daemons stay on 20.2.4 and the mixed cluster is healthy', async () => {
    needCluster();
    let opId = '';
    try {
      await lab.timed('(a) upgrade to the first OSD host, cancel between hosts', async () => {
        opId = await startUpgrade();
        // The first OSD host has started: pause, so that it finishes and the next one does not start.
        const first = await lab.waitForOperation(
          opId,
          (o) => batchesOf(o).length > 0 || !['pending', 'in_progress'].includes(o.status),
          900_000,
        );
        expect(first.status, describeOp(first)).toBe('in_progress');
        expect(batchesOf(first)).toEqual(['batch: labnode1']);
        const p = await lab.request('POST', `/v1/operations/${opId}/pause`, { reason: 'lab: cancel between hosts' });
        expect(p.status, JSON.stringify(p.body)).toBeLessThan(300);
        // The mgrs and mons are done and count as units of work beside the hosts (issue 12).
        expect(first.progress, 'mgrs and mons done').toBeGreaterThan(0);
        // Between hosts: the first host done (progress counts it), nothing else started.
        const between = await lab.waitForOperation(
          opId,
          (o) => (o.status === 'paused' && o.progress > first.progress) || TERMINAL.includes(o.status),
          600_000,
        );
        expect(between.status, describeOp(between)).toBe('paused');
        expect(between.progress, 'one host of three more').toBeLessThan(99);
        expect(batchesOf(between)).toEqual(['batch: labnode1']);
        const mixed = await osds();
        for (const o of Object.values(mixed))
          expect(o.version, `an OSD on ${o.host}`).toContain(o.host === 'labnode1' ? TARGET : '18.2.7');

        const c = await lab.request('POST', `/v1/operations/${opId}/cancel`);
        expect(c.status, JSON.stringify(c.body)).toBe(202);
        const op = await lab.waitForOperation(opId, undefined, 300_000);
        lab.timings.push(`  (a) steps: ${stepTimes(op)}`);
        expect(op.status, describeOp(op)).toBe('cancelled');
        expect(batchesOf(op)).toEqual(['batch: labnode1']);
      });
    } finally {
      await cancelIfRunning(opId);
    }
    await expectNothingLeftFlagged();
    // The cluster's lock is released: a new operation on it is accepted and runs (a reweight of an
    // OSD to the full weight it already has changes nothing in the data).
    const r = await lab.request('POST', `/v1/clusters/${clusterId}/osds/0/reweight`, { weight: 1 });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const rw = await lab.waitForOperation(r.body.data.operation_id, undefined, 300_000);
    expect(rw.status, describeOp(rw)).toBe('completed');
    // Mixed: mons and mgrs and labnode1's OSDs on 20.2.4, the rest on 18.2.7, and that works.
    const v = await lab.cephJson('versions');
    for (const type of ['mon', 'mgr'])
      expect(
        Object.keys(v[type]).every((k) => k.startsWith(`ceph version ${TARGET}`)),
        type,
      ).toBe(true);
    expect(
      Object.keys(v.osd)
        .sort((a, b) => a.localeCompare(b))
        .map((k) => k.split(' ')[2]),
    ).toEqual(['18.2.7', TARGET]);
    for (const o of Object.values(await osds()))
      expect(o.version, `an OSD on ${o.host}`).toContain(o.host === 'labnode1' ? TARGET : '18.2.7');
    // Tentacle's daemons raise the AUTH_INSECURE_* checks (decision 4); nothing else.
    await lab.timed('(a) mixed cluster healthy', () => lab.waitHealthy(180, ['AUTH_INSECURE_']));
    expect(await lab.readChecksums(POOL, OBJECTS)).toEqual(checksums);
  }, 1_500_000);

  let faultOpId = '';
  it('(b) an OSD host whose OSDs will not start: the upgrade pauses naming the host and the OSD, its noout unset again', async () => {
    needCluster();
    const broken = osdIdsOf(await osds(), 'labnode2');
    expect(broken).toHaveLength(2);
    await lab.ctl('fault', '2', 'osd-broken', 'on');
    const paused = await lab.timed('(b) upgrade until labnode2 fails', async () => {
      faultOpId = await startUpgrade();
      return lab.waitForOperation(faultOpId, (o) => !['pending', 'in_progress'].includes(o.status), 900_000);
    });
    console.log(
      `(b) the upgrade stopped with: ${paused.status} ${paused.current_step} ${JSON.stringify(paused.error)}\n${logsOf(
        paused,
      )
        .slice(-10)
        .join('\n')}`,
    );
    expect(paused.status, describeOp(paused)).toBe('paused');
    expect(paused.current_step).toBe('upgrade_osd_hosts');
    expect(batchesOf(paused)).toEqual(['batch: labnode2']);
    expect(paused.error.message).toContain('labnode2');
    expect(
      broken.some((id) => paused.error.message.includes(`ceph-osd@${id}`)),
      paused.error.message,
    ).toBe(true);
    expect(paused.result).toBeNull();
    // The host put itself back as far as it could: its noout unset; its OSDs down (they cannot start).
    const dump = await lab.cephJson('osd', 'dump');
    expect(dump.crush_node_flags ?? {}).toEqual({});
    expect(dump.flags.split(',')).not.toContain('noout');
    for (const id of broken) expect(dump.osds.find((o: any) => o.osd === id)?.up, `osd.${id}`).toBe(0);
  }, 1_200_000);

  it('(c) fault off, resume, and the mon leader restarted while the upgrade runs: it completes, every daemon on 20.2.4, require-osd-release tentacle, data intact, no flag left', async () => {
    needCluster();
    if (!faultOpId) throw new Error('needs the paused upgrade of (b)');
    let epochBefore = 0;
    try {
      await lab.ctl('fault', '2', 'osd-broken', 'off');
      const op = await lab.timed('(c) resume, mon leader restarted, upgrade completes', async () => {
        const r = await lab.request('POST', `/v1/operations/${faultOpId}/resume`);
        expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
        // labnode2 is retried (a second batch of it): restart the mon leader now, mid-upgrade.
        const retried = await lab.waitForOperation(
          faultOpId,
          (o) => batchesOf(o).length > 1 || TERMINAL.includes(o.status),
          600_000,
        );
        expect(retried.status, describeOp(retried)).toBe('in_progress');
        const q = await lab.cephJson('quorum_status');
        const leader = String(q.quorum_leader_name);
        const k = Number(/^labnode(\d+)$/.exec(leader)?.[1]);
        expect(k, leader).toBeGreaterThan(0);
        // The lab's systemctl keeps each unit's main pid in /run/nflab/units/<unit>/main.pid.
        const mainPid = async () =>
          (await lab.exec(k, `cat /run/nflab/units/ceph-mon@${leader}.service/main.pid`)).trim();
        const pidBefore = await mainPid();
        epochBefore = Number(q.election_epoch);
        await lab.exec(k, `systemctl restart ceph-mon@${leader}`);
        const pidAfter = await mainPid();
        console.log(`(c) restarted the mon leader mon.${leader} (pid ${pidBefore} → ${pidAfter})`);
        expect(pidAfter).not.toBe(pidBefore);
        return lab.waitForOperation(faultOpId, (o) => !['pending', 'in_progress'].includes(o.status), 1_200_000);
      });
      lab.timings.push(`  (b)+(c) upgrade steps: ${stepTimes(op)}`);
      expect(op.status, describeOp(op)).toBe('completed');
      expect(batchesOf(op)).toEqual(['batch: labnode2', 'batch: labnode2', 'batch: labnode3']);
      expect(op.result).toMatchObject({ target_version: 'tentacle', require_osd_release: 'tentacle' });
    } finally {
      await lab.ctl('fault', '2', 'osd-broken', 'off');
      await cancelIfRunning(faultOpId);
    }
    const q = await lab.cephJson('quorum_status');
    expect([...q.quorum_names].sort()).toEqual(['labnode1', 'labnode2', 'labnode3']);
    // The restart made the mons hold an election (the quorum was re-formed) during the upgrade.
    expect(Number(q.election_epoch)).toBeGreaterThan(epochBefore);
    const v = await lab.cephJson('versions');
    for (const type of ['mon', 'mgr', 'osd', 'overall'])
      expect(
        Object.keys(v[type]).every((key) => key.startsWith(`ceph version ${TARGET}`)),
        type,
      ).toBe(true);
    expect(Object.values(v.osd as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(6);
    expect((await lab.cephJson('osd', 'dump')).require_osd_release).toBe('tentacle');
    expect(await lab.readChecksums(POOL, OBJECTS)).toEqual(checksums);
    await expectNothingLeftFlagged();
    await lab.waitHealthy(180, ['AUTH_INSECURE_']);
    const c = (await lab.request('GET', `/v1/clusters/${clusterId}`)).body.data;
    expect(c.ceph_version).toBe('tentacle');
    expect(c.ceph_point_version).toBe('20.2.4');
  }, 1_500_000);

  it('deletes the cluster: daemons stopped, devices zapped, nodes pending', async () => {
    const id = needCluster();
    const op = await lab.timed('delete cluster', () => lab.deleteCluster(id));
    lab.timings.push(`  delete steps: ${stepTimes(op)}`);
    expect(op.status, describeOp(op)).toBe('completed');
    expect(logsOf(op).join('\n')).toContain('6 OSD device(s) wiped');
    expect((await lab.request('GET', `/v1/clusters/${id}`)).status).toBe(404);
    await lab.expectNodesBare();
  }, 600_000);
});
