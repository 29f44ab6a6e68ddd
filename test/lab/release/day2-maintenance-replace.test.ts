import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOp, LabSession, stepTimes } from './lab-session';

/**
 * Day-2 operations of issue 13 on real peers: maintenance mode and a failed disk replaced, through
 * the API with a live key, the real worker, real Temporal and PostgreSQL, on the release lab (3 bare
 * trixie nodes, Reef 18.2.7 packages, ipmi_sim BMCs whose power really stops and boots the node):
 * ONE cluster created with the package deployer, a pool with 8 checksummed 1 MiB objects, then in
 * sequence, what an operator would check with `ceph` itself after each step:
 *
 *   (1) maintenance of labnode2 without power-off: status `maintenance`, host noout in the OSD map,
 *       its OSDs down and their units stopped cleanly, data readable; exit: OSDs up, noout unset,
 *       PGs active+clean, node `online`;
 *   (2) maintenance with power_off: the node really off (chassis off, sshd gone); exit powers it on,
 *       it comes back, everything clean;
 *   (3) exit while the node stays down (lab fault no-boot: powered on, it never boots): the exit
 *       completes saying what is left, noout unset, node `offline`; the node brought back, the
 *       monitor puts it `online`, the cluster recovers, nothing left flagged;
 *   (4) a failed OSD (daemon dead) whose replacement is refused while its PGs have no other copy
 *       (409 not_safe_to_destroy), then, marked out and its data recovered elsewhere, replaced on a
 *       NEW drive hot-plugged into its host (ctl.sh add-drive): same id, on the new device, weight
 *       exactly restored, PGs active+clean, the node's drives show the new disk with its SMART state;
 *
 * then the cluster is deleted (nodes pending, every drive bare). Checksums are read back after each
 * step. Its own lab directory and port base (the journey uses /tmp/nfjourney on 16700,
 * upgrade-faults /tmp/nffaults on 16900).
 */
const DIR = process.env.NF_DAY2A_LAB_DIR ?? '/tmp/nfday2a';
const PORT_BASE = Number(process.env.NF_DAY2A_LAB_PORT_BASE ?? 17100);
const POOL = 'day2';
const OBJECTS = 8;
/** The member put in maintenance: not node 1, the admin node (never powered off, docs/operators.md). */
const K = 2;
const HOST = `labnode${K}`;
/** The host whose OSD is replaced. */
const RK = 3;
const RHOST = `labnode${RK}`;

const lab = new LabSession(DIR, PORT_BASE);
let clusterId = '';
let checksums: Record<string, string> = {};
let flagsBefore: string[] = [];

// The monitor round every 3 s: (3) waits for it to see the node back. SSH waits of 30 s (LabSession:
// 60 s): a lab node boots in 2-3 s, and (3)'s exit waits the whole bound for a node that never does.
beforeAll(() => lab.start({ NF_MONITOR_INTERVAL_MS: '3000', NF_WAIT_SSH_MS: '30000' }), 300_000);
afterAll(() => lab.stop('day-2 maintenance/replace'), 300_000);

function needCluster(): string {
  if (!clusterId) throw new Error('needs the cluster created by the first test (see the first failure)');
  return clusterId;
}
const logsOf = (op: any): string[] => (op.logs ?? []).map((l: any) => l.message as string);
const nodeId = (k: number) => lab.nodeIds[`node${k}`]!;
const getNode = async (k: number) => (await lab.request('GET', `/v1/nodes/${nodeId(k)}`)).body.data;

/** osd id → host, from `ceph osd metadata`. */
async function osdsOf(host: string): Promise<number[]> {
  const tree = await lab.cephJson<any>('osd', 'tree');
  const h = tree.nodes.find((n: any) => n.type === 'host' && n.name === host);
  return [...(h?.children ?? [])].sort((a: number, b: number) => a - b);
}
async function osdState(id: number): Promise<{ up: number; in: number; state: string[] }> {
  const o = (await lab.cephJson('osd', 'dump')).osds.find((x: any) => x.osd === id);
  return { up: o.up, in: o.in, state: o.state };
}
/** The lab's systemctl (the node's own view of its units): active, inactive, failed… */
async function unitState(k: number, unit: string): Promise<string> {
  return (await lab.exec(k, `systemctl is-active ${unit} || true`)).trim();
}
/** `ctl.sh status`'s line of node k: power and sshd as the lab sees them (works while the node is off). */
async function labStatus(k: number): Promise<{ power: string; sshd: string }> {
  const line = (await lab.ctl('status')).split('\n').find((l) => l.startsWith(`node${k} `)) ?? '';
  return { power: /power (\w+)/.exec(line)?.[1] ?? '?', sshd: /sshd (\w+)/.exec(line)?.[1] ?? '?' };
}
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Nothing NodeFoundry sets is left: the cluster's flags as before, no per-host flag. */
async function expectNothingLeftFlagged(): Promise<void> {
  const dump = await lab.cephJson('osd', 'dump');
  expect(dump.flags.split(',').sort()).toEqual(flagsBefore);
  expect(dump.crush_node_flags ?? {}).toEqual({});
  expect(await lab.ctl('ceph', 'health', 'detail')).not.toMatch(/noout/i);
}

async function enter(powerOff: boolean): Promise<any> {
  const r = await lab.request('POST', `/v1/nodes/${nodeId(K)}/maintenance`, { power_off: powerOff });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return lab.waitForOperation(r.body.data.operation_id, undefined, 600_000);
}
async function exit(): Promise<any> {
  const r = await lab.request('DELETE', `/v1/nodes/${nodeId(K)}/maintenance`);
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return lab.waitForOperation(r.body.data.operation_id, undefined, 600_000);
}

/** In maintenance: status, host noout in the OSD map and `ceph health detail`, OSDs down (still in). */
async function expectInMaintenance(osds: number[]): Promise<void> {
  const node = await getNode(K);
  expect(node.status).toBe('maintenance');
  const dump = await lab.cephJson('osd', 'dump');
  expect(dump.crush_node_flags ?? {}).toEqual({ [HOST]: ['noout'] });
  expect(await lab.ctl('ceph', 'health', 'detail')).toMatch(new RegExp(`${HOST}.*noout|noout.*${HOST}`, 's'));
  for (const id of osds) {
    const o = dump.osds.find((x: any) => x.osd === id);
    expect(o.up, `osd.${id} up`).toBe(0);
    expect(o.in, `osd.${id} in (noout)`).toBe(1);
  }
}

/** Back: node online, OSDs up and in, nothing flagged, PGs clean, data intact. */
async function expectBack(osds: number[]): Promise<void> {
  for (const id of osds) expect(await osdState(id), `osd.${id}`).toMatchObject({ up: 1, in: 1 });
  await expectNothingLeftFlagged();
  await lab.waitHealthy(120);
  expect((await getNode(K)).status).toBe('online');
  expect(await lab.readChecksums(POOL, OBJECTS)).toEqual(checksums);
}

describe('day-2 on real Reef packages: maintenance and disk replacement (one cluster, in sequence)', () => {
  it('sets up: 3 nodes registered, a Reef cluster with the package deployer, a pool with checksummed data', async () => {
    await lab.timed('register 3 nodes', () => lab.registerNodes());
    const { clusterId: id, op } = await lab.timed('create cluster (reef, packages)', () =>
      lab.createReefCluster('day2'),
    );
    clusterId = id;
    lab.timings.push(`  create steps: ${stepTimes(op)}`);
    expect(op.status, describeOp(op)).toBe('completed');
    checksums = await lab.timed('create pool + write 8 MiB', () => lab.poolWithData(id, POOL, OBJECTS));
    expect(Object.keys(checksums)).toHaveLength(OBJECTS);
    await lab.waitHealthy(120);
    flagsBefore = (await lab.cephJson('osd', 'dump')).flags.split(',').sort();
    expect(await osdsOf(HOST)).toHaveLength(2);
  }, 900_000);

  it('(1) maintenance without power-off: node maintenance, host noout, its OSDs stopped cleanly and down, data readable; exit: OSDs up, noout unset, PGs clean, node online', async () => {
    needCluster();
    const osds = await osdsOf(HOST);
    const entered = await lab.timed('(1) enter maintenance', () => enter(false));
    lab.timings.push(`  (1) enter steps: ${stepTimes(entered)}`);
    expect(entered.status, describeOp(entered)).toBe('completed');
    expect(entered.result).toMatchObject({ osds, noout_set: true, powered_off: false });
    await expectInMaintenance(osds);
    // Stopped cleanly: each unit inactive (not failed), the machine and its sshd still up.
    for (const id of osds) expect(await unitState(K, `ceph-osd@${id}`), `ceph-osd@${id}`).toBe('inactive');
    expect(await labStatus(K)).toEqual({ power: 'on', sshd: 'up' });
    // Size 3 over 3 hosts, one host down: every object still readable.
    expect(await lab.readChecksums(POOL, OBJECTS)).toEqual(checksums);

    const exited = await lab.timed('(1) exit maintenance', () => exit());
    lab.timings.push(`  (1) exit steps: ${stepTimes(exited)}`);
    expect(exited.status, describeOp(exited)).toBe('completed');
    expect(exited.result).toMatchObject({ host_back: true, status: 'online', left: [] });
    for (const id of osds) expect(await unitState(K, `ceph-osd@${id}`), `ceph-osd@${id}`).toBe('active');
    await expectBack(osds);
  }, 900_000);

  it('(2) maintenance with power_off: the node really off (chassis off, sshd gone); exit powers it on, it comes back clean', async () => {
    needCluster();
    const osds = await osdsOf(HOST);
    const entered = await lab.timed('(2) enter maintenance, power off', () => enter(true));
    lab.timings.push(`  (2) enter steps: ${stepTimes(entered)}`);
    expect(entered.status, describeOp(entered)).toBe('completed');
    expect(entered.result).toMatchObject({ osds, noout_set: true, powered_off: true });
    await expectInMaintenance(osds);
    expect(await labStatus(K)).toEqual({ power: 'off', sshd: 'down' });
    expect((await getNode(K)).status_reason).toContain('powered off');
    expect(await lab.readChecksums(POOL, OBJECTS)).toEqual(checksums);

    const exited = await lab.timed('(2) exit maintenance, power on', () => exit());
    lab.timings.push(`  (2) exit steps: ${stepTimes(exited)}`);
    expect(exited.status, describeOp(exited)).toBe('completed');
    expect(exited.result).toMatchObject({ host_back: true, status: 'online', left: [] });
    expect(logsOf(exited)).toContain('BMC power on sent');
    expect(await labStatus(K)).toEqual({ power: 'on', sshd: 'up' });
    await expectBack(osds);
  }, 900_000);

  it('(3) exit while the node stays down: completes saying what is left, noout unset, node offline; the node brought back, the monitor puts it online, nothing left flagged', async () => {
    needCluster();
    const osds = await osdsOf(HOST);
    try {
      const entered = await lab.timed('(3) enter maintenance, power off', () => enter(true));
      expect(entered.status, describeOp(entered)).toBe('completed');
      await expectInMaintenance(osds);
      // The node will not boot when powered on (a host that does not come back after the work).
      await lab.ctl('fault', String(K), 'no-boot', 'on');
      const exited = await lab.timed('(3) exit maintenance, host stays down', () => exit());
      lab.timings.push(`  (3) exit steps: ${stepTimes(exited)}`);
      console.log(`(3) the exit: ${JSON.stringify(exited.result)}\n${logsOf(exited).slice(-8).join('\n')}`);
      expect(exited.status, describeOp(exited)).toBe('completed');
      expect(exited.result).toMatchObject({ host_back: false, status: 'offline' });
      expect(exited.result.left).toHaveLength(2);
      expect(exited.result.left[0]).toContain(`${HOST} is not back`);
      expect(exited.result.left[1]).toContain(osds.map((i) => `osd.${i}`).join(', '));
      const steps = Object.fromEntries(exited.steps.map((s: any) => [s.name, s.status]));
      expect(steps).toMatchObject({
        power_on: 'completed',
        wait_ssh: 'failed',
        start_osds: 'skipped',
        wait_osds_up: 'skipped',
        unset_noout: 'completed',
        wait_clean: 'skipped',
        clear_maintenance: 'completed',
      });
      const node = await getNode(K);
      expect(node.status).toBe('offline');
      expect(node.status_reason).toContain('left maintenance while down');
      // The BMC powered it on, but nothing runs: no sshd.
      expect(await labStatus(K)).toEqual({ power: 'on', sshd: 'down' });
      // noout unset (Ceph may recover the host's data elsewhere); its OSDs still down; data readable.
      expect((await lab.cephJson('osd', 'dump')).crush_node_flags ?? {}).toEqual({});
      for (const id of osds) expect((await osdState(id)).up, `osd.${id}`).toBe(0);
      expect(await lab.readChecksums(POOL, OBJECTS)).toEqual(checksums);
    } finally {
      await lab.ctl('fault', String(K), 'no-boot', 'off');
    }
    // Brought back: the node boots (sshd, its enabled OSD units); the monitor sees it again.
    await lab.timed('(3) node back, monitor online, cluster clean', async () => {
      await lab.ctl('boot', String(K));
      await waitFor('the monitor to put the node online', 120_000, async () =>
        (await getNode(K)).status === 'online' ? true : undefined,
      );
      await waitFor(`the OSDs of ${HOST} up`, 120_000, async () => {
        for (const id of osds) if ((await osdState(id)).up !== 1) return undefined;
        return true;
      });
      await lab.waitHealthy(180);
    });
    expect((await getNode(K)).status_reason).toBeNull();
    await expectBack(osds);
  }, 900_000);

  let newDrive = '';
  it('(4) a failed OSD replaced on a new drive (refused while not safe to destroy): same id, on the new device, weight restored, PGs clean, data intact, the node drives show the new disk', async () => {
    const id = needCluster();
    const [osd] = await osdsOf(RHOST);
    expect(osd).toBeDefined();
    const osdId = osd!;
    const tree = await lab.cephJson<any>('osd', 'tree');
    const weightBefore = tree.nodes.find((n: any) => n.id === osdId).crush_weight as number;
    const metaBefore = await lab.cephJson<any>('osd', 'metadata', String(osdId));
    const oldDev = String(metaBefore.bluestore_bdev_dev_node);
    expect(oldDev).toMatch(/^\/dev\/sd[a-z]$/);

    // A new blank drive in a free slot of the host (the failed one stays where it is).
    newDrive = (await lab.ctl('add-drive', String(RK))).trim();
    expect(newDrive).toMatch(/^sd[a-z]$/);
    expect(`/dev/${newDrive}`).not.toBe(oldDev);
    lab.lab.nodes[RK - 1]!.drives.push(newDrive);

    // The disk dies: its daemon gone for good (stopped and disabled: a dead disk does not restart),
    // Ceph marks it down, the operator marks it out, its PGs recover onto the host's other OSD.
    await lab.timed('(4) OSD failed, out, data recovered elsewhere', async () => {
      await lab.exec(RK, `systemctl disable ceph-osd@${osdId}; systemctl stop ceph-osd@${osdId}`);
      await waitFor(`osd.${osdId} down`, 60_000, async () => ((await osdState(osdId)).up === 0 ? true : undefined));
      // Down but still in: its PGs have no other copy yet. Refused synchronously with Ceph's reason,
      // nothing started or changed.
      const refused = await lab.request('POST', `/v1/clusters/${id}/osds/${osdId}/replace`, {
        device: `/dev/${newDrive}`,
      });
      console.log(`(4) replace while not safe to destroy: ${refused.status} ${JSON.stringify(refused.body)}`);
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('not_safe_to_destroy');
      expect(refused.body.error.message).toContain(`osd.${osdId}`);
      expect(JSON.stringify(refused.body)).not.toMatch(/stack|select |ApplicationFailure|Error E[A-Z]+:/i);
      expect(await osdState(osdId)).toMatchObject({ up: 0, in: 1 });
      expect((await osdState(osdId)).state).not.toContain('destroyed');
      await lab.ctl('ceph', 'osd', 'out', String(osdId));
      // Down and out, recovered: only the check for the down OSD itself remains.
      await lab.waitHealthy(300, ['OSD_DOWN']);
      await waitFor(`ceph osd safe-to-destroy ${osdId}`, 120_000, async () =>
        (await lab.exec(1, `ceph osd safe-to-destroy ${osdId} >/dev/null 2>&1 && echo safe || echo no`)).trim() ===
        'safe'
          ? true
          : undefined,
      );
    });
    expect(await lab.readChecksums(POOL, OBJECTS)).toEqual(checksums);

    const op = await lab.timed('(4) replace the OSD on the new drive', async () => {
      const r = await lab.request('POST', `/v1/clusters/${id}/osds/${osdId}/replace`, { device: `/dev/${newDrive}` });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      return lab.waitForOperation(r.body.data.operation_id, undefined, 900_000);
    });
    lab.timings.push(`  (4) replace steps: ${stepTimes(op)}`);
    console.log(`(4) the replacement: ${JSON.stringify(op.result)}\n${logsOf(op).join('\n')}`);
    expect(op.status, describeOp(op)).toBe('completed');
    expect(op.result).toMatchObject({ osd_id: osdId, host: RHOST, device: newDrive, mode: 'failed' });

    // The same id, on the new device: what the OSD reported when it booted, and its bluestore label.
    const meta = await lab.cephJson<any>('osd', 'metadata', String(osdId));
    expect(meta.hostname).toBe(RHOST);
    expect(meta.bluestore_bdev_dev_node).toBe(`/dev/${newDrive}`);
    const label = JSON.parse(await lab.exec(RK, `ceph-volume raw list /dev/${newDrive} --format json`));
    const entries = Object.values(label) as any[];
    expect(entries.map((e) => [e.osd_id, e.ceph_fsid])).toEqual([[osdId, (await lab.cephJson<any>('fsid')).fsid]]);
    // Weight restored, up and in: exactly the CRUSH weight it had (a disk of the same size). The first
    // run gave 0.0078125 (the new disk's `osd df` size) for 0.0077972: `osd df` has no size for an
    // out OSD, so the failed OSD's share of its disk was unknown and taken as full; the driver now
    // reads the size from the OSD's metadata (bluestore_bdev_size).
    const after = (await lab.cephJson<any>('osd', 'tree')).nodes.find((n: any) => n.id === osdId);
    expect(after.crush_weight).toBe(weightBefore);
    expect(op.result.crush_weight).toBeCloseTo(weightBefore, 5);
    expect(after.reweight).toBe(1);
    expect(await osdState(osdId)).toMatchObject({ up: 1, in: 1 });
    expect((await osdState(osdId)).state).not.toContain('destroyed');
    expect(await unitState(RK, `ceph-osd@${osdId}`)).toBe('active');
    await lab.waitHealthy(180);
    await expectNothingLeftFlagged();
    expect(await lab.readChecksums(POOL, OBJECTS)).toEqual(checksums);
    // The node's drives re-read: the new disk and its SMART state.
    const drives = (await getNode(RK)).drives as any[];
    expect(drives.find((d) => d.device === newDrive)).toMatchObject({ device: newDrive, smart_ok: true });
  }, 1_200_000);

  it('deletes the cluster: daemons stopped, devices zapped (the new drive too), nodes pending', async () => {
    const id = needCluster();
    const op = await lab.timed('delete cluster', () => lab.deleteCluster(id));
    lab.timings.push(`  delete steps: ${stepTimes(op)}`);
    expect(op.status, describeOp(op)).toBe('completed');
    expect((await lab.request('GET', `/v1/clusters/${id}`)).status).toBe(404);
    await lab.expectNodesBare();
  }, 600_000);
});
