import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOp, LabSession, stepTimes } from './lab-session';

/**
 * Adding hosts to and removing hosts from a running Reef cluster (issue 13 items 3 and 4), through
 * the API with a live key, the real worker, real Temporal and PostgreSQL, on the release lab with
 * FIVE nodes (Reef 18.2.7 from packages): ONE cluster created with the package deployer on
 * labnode1-3, a size-3 pool with 8 checksummed 1 MiB objects, then in sequence:
 *
 *   (1) expand with labnode4 and labnode5: the dry run gives the plan with its figures and changes
 *       nothing; the run adds the hosts, creates their OSDs at CRUSH weight 0 (seen so in `ceph osd
 *       tree`) and raises them to full weight in steps bounded by max_misplaced_ratio, each settled
 *       before the next; PGs active+clean, the checksums intact, the nodes `online` members;
 *  (2a) a removal of labnode2 cancelled while the mgrs move (its mon already moved to labnode4):
 *       the mon is put back on labnode2, a quorum of 3 at every reading, CRUSH as before;
 *   (2) shrink labnode2, a mon host: its mon moves to labnode4 first (a majority in quorum and
 *       at least 3 mons at every reading while it moves), its OSDs drained to 0 and purged, the host gone from CRUSH, the
 *       node `ready` and bare, PGs active+clean, checksums intact;
 *   (3) shrink labnode3, a mon host too, after labnode2 left: its mon moves to labnode5 (the mon
 *       move must not reach for the host removed before), the same checks;
 *   (4) a refused removal: with 3 hosts left for a size-3 pool, removing one more is 409 with the
 *       figures and changes nothing;
 *
 * then the cluster is deleted (members pending, labnode2 and labnode3 ready, nothing left running).
 * Its own lab directory and port base (others: /tmp/nfjourney 16700, /tmp/nffaults 16900,
 * /tmp/nfrel-test 16500).
 */
const DIR = process.env.NF_DAY2B_LAB_DIR ?? '/tmp/nfday2b';
const PORT_BASE = Number(process.env.NF_DAY2B_LAB_PORT_BASE ?? 17300);
const POOL = 'day2b';
const OBJECTS = 8;
/** 0.1 rather than Ceph's 0.05: 4 weight steps instead of 8 for two hosts added to three (CI time). */
const MAX_MISPLACED = 0.1;
const CLUSTER_NODES = ['labnode1', 'labnode2', 'labnode3'];
/** Added in one expansion. */
const NEW_NODES = ['labnode4', 'labnode5'];

const lab = new LabSession(DIR, PORT_BASE);
/** The node id of a lab node by its hostname (labnodeK is lab node `nodeK`). */
const idOf = (hostname: string): string => lab.nodeIds[hostname.replace(/^lab/, '')]!;
let clusterId = '';
let checksums: Record<string, string> = {};

beforeAll(() => lab.start({}, { LAB_NODES: '5' }), 300_000);
afterAll(() => lab.stop('day-2 expand/shrink'), 300_000);

function needCluster(): string {
  if (!clusterId) throw new Error('needs the cluster created by the first test (see the first failure)');
  return clusterId;
}

const logsOf = (op: any): string[] => (op.logs ?? []).map((l: any) => l.message as string);

interface TreeNode {
  id: number;
  name: string;
  type: string;
  crush_weight?: number;
  children?: number[];
}

/** host → its OSDs with CRUSH weights, from `ceph osd tree`. */
async function hostsInTree(): Promise<Record<string, { id: number; crush_weight: number }[]>> {
  const tree = await lab.cephJson<{ nodes: TreeNode[] }>('osd', 'tree');
  const byId = new Map(tree.nodes.map((n) => [n.id, n]));
  return Object.fromEntries(
    tree.nodes
      .filter((n) => n.type === 'host')
      .map((h) => [
        h.name,
        (h.children ?? [])
          .map((c) => ({ id: c, crush_weight: byId.get(c)?.crush_weight ?? -1 }))
          .sort((a, b) => a.id - b.id),
      ]),
  );
}

/** osd id → PGs it holds, from `ceph osd df`. */
async function pgsPerOsd(): Promise<Record<number, number>> {
  const df = await lab.cephJson<{ nodes: { id: number; pgs: number }[] }>('osd', 'df');
  return Object.fromEntries(df.nodes.map((n) => [n.id, n.pgs]));
}

async function monsInQuorum(): Promise<{ mons: string[]; quorum: string[] }> {
  const q = await lab.cephJson('quorum_status');
  return {
    mons: (q.monmap.mons as { name: string }[]).map((m) => m.name).sort(),
    quorum: [...(q.quorum_names as string[])].sort(),
  };
}

async function node(name: string): Promise<any> {
  const r = await lab.request('GET', `/v1/nodes/${idOf(name)}`);
  expect(r.status).toBe(200);
  return r.body.data;
}

/**
 * DELETE /v1/clusters/{id}/nodes/{node} of a mon host, dry run first; while its mon moves, every
 * reading of the monmap has a quorum of at least 3. Then ceph itself: the mons `monsAfter`, all in
 * quorum; no mgr on the host; the host and its OSDs gone from CRUSH and the OSD map; the node ready
 * and the host bare; PGs active+clean and the checksums intact.
 */
async function shrinkMonHost(label: string, host: string, monsAfter: string[]): Promise<void> {
  const id = needCluster();
  const nodeId = idOf(host);
  const treeBefore = await hostsInTree();
  const removedOsds = treeBefore[host]!.map((o) => o.id);
  expect(removedOsds).toHaveLength(2);
  const osdsBefore = await lab.cephJson<number[]>('osd', 'ls');
  expect((await monsInQuorum()).mons).toContain(host);

  const dry = await lab.request('DELETE', `/v1/clusters/${id}/nodes/${nodeId}?dry_run=true`);
  expect(dry.status, JSON.stringify(dry.body)).toBe(200);
  console.log(`${label} dry run: ${JSON.stringify(dry.body.data.facts)}`);
  expect(dry.body.data.would_run, JSON.stringify(dry.body.data.refusals)).toBe(true);
  expect(dry.body.data.facts.host_osds).toEqual(removedOsds);
  expect(dry.body.data.facts.mons_after).toEqual(monsAfter);
  expect(dry.body.data.facts.failure_domains_left).toBe(Object.keys(treeBefore).length - 1);
  // Nothing changed by the dry run.
  expect(await hostsInTree()).toEqual(treeBefore);

  const r = await lab.request('DELETE', `/v1/clusters/${id}/nodes/${nodeId}`, undefined, {
    'X-Confirm-Delete': 'true',
  });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  // While the mons move: the new mon joins before the old one leaves; at every reading a majority
  // of the monmap is in quorum and the monmap never has fewer than 3 mons (an election right after
  // the old mon leaves can show 2 of 3 for a moment: still a quorum).
  const quorumSeen: string[] = [];
  const op = await lab.timed(`${label} shrink ${host}`, async () => {
    const deadline = Date.now() + 900_000;
    for (;;) {
      const o = (await lab.request('GET', `/v1/operations/${r.body.data.operation_id}`)).body.data;
      if (['completed', 'failed', 'cancelled'].includes(o.status)) return o;
      if (['preflight', 'move_mons', 'move_mgrs'].includes(o.current_step)) {
        const q = await monsInQuorum().catch(() => null);
        if (q) {
          const line = `${q.quorum.join(',')} of ${q.mons.join(',')}`;
          if (quorumSeen.at(-1) !== line) quorumSeen.push(line);
          expect(q.quorum.length * 2, line).toBeGreaterThan(q.mons.length);
          expect(q.mons.length, line).toBeGreaterThanOrEqual(3);
        }
      }
      if (Date.now() > deadline) throw new Error(`shrink still ${o.status} after 900 s: ${describeOp(o)}`);
      await new Promise((res) => setTimeout(res, 500));
    }
  });
  lab.timings.push(`  ${label} shrink steps: ${stepTimes(op)}`);
  console.log(`${label} shrink log:\n${logsOf(op).join('\n')}\nquorum seen while moving: ${quorumSeen.join(' → ')}`);
  expect(op.status, describeOp(op)).toBe('completed');
  expect(quorumSeen.length, 'the quorum was read while the mons moved').toBeGreaterThan(1);
  // In that order: mons moved, the OSDs drained to 0 and holding no PG, safe to destroy, purged
  // and their devices zapped, the host out of CRUSH, the node released.
  const osdList = removedOsds.map((o) => `osd.${o}`).join(', ');
  const expected = [
    `mons run on ${monsAfter.join(', ')}`,
    `CRUSH weight 0 on ${osdList}`,
    ...removedOsds.map((o) => `osd.${o} holds 0 PGs`),
    `ceph osd safe-to-destroy ${removedOsds.join(' ')}: safe`,
    `Ceph stopped on ${host}; purged ${osdList}`,
    `${host} removed from CRUSH`,
    `(${host}) is ready again`,
  ];
  const logs = logsOf(op);
  let at = -1;
  for (const e of expected) {
    const i = logs.findIndex((m, k) => k > at && m.includes(e));
    expect(i, `"${e}" logged after the lines before it`).toBeGreaterThan(at);
    at = i;
  }

  // Mons: as many as before, the host's moved, all in quorum.
  expect(await monsInQuorum()).toEqual({ mons: monsAfter, quorum: monsAfter });
  // No mgr left on the host.
  const mgr = await lab.cephJson('mgr', 'dump');
  const mgrs = [mgr.active_name, ...(mgr.standbys ?? []).map((s: any) => s.name)];
  expect(mgrs).not.toContain(host);
  // CRUSH: the host and its OSDs are gone; the OSD map has no trace of them.
  const tree = await hostsInTree();
  expect(Object.keys(tree).sort()).toEqual(
    Object.keys(treeBefore)
      .filter((h) => h !== host)
      .sort(),
  );
  const ids = await lab.cephJson<number[]>('osd', 'ls');
  for (const o of removedOsds) expect(ids, `osd.${o} purged`).not.toContain(o);
  expect(ids).toHaveLength(osdsBefore.length - removedOsds.length);

  const n = await node(host);
  expect(n.status).toBe('ready');
  expect(n.cluster_id).toBeNull();
  // The host itself: no Ceph unit active, no data, config, keyring or bluestore label.
  const k = lab.lab.nodes.findIndex((x) => x.hostname === host);
  const drives = lab.lab.nodes[k]!.drives;
  const left = await lab.exec(
    k + 1,
    `echo "daemons: $(for u in /run/nflab/units/ceph-*; do [ -d "$u" ] && systemctl is-active "\${u##*/}"; done | grep -c "^active")"; echo "data: $(ls -A /var/lib/ceph/mon /var/lib/ceph/mgr /var/lib/ceph/osd | grep -v ":$" | grep -c .)"; echo "config: $(ls /etc/ceph/ceph.conf /etc/ceph/*.keyring 2>/dev/null | wc -l)"; for d in ${drives.map((d) => `/dev/${d}`).join(' ')}; do echo "$d: $(ceph-volume raw list $d --format json 2>/dev/null | tr -d " \\n")"; done`,
  );
  expect(left.trim().split('\n')).toEqual([
    'daemons: 0',
    'data: 0',
    'config: 0',
    ...drives.map((d) => `/dev/${d}: {}`),
  ]);

  await lab.timed(`${label} healthy after shrink`, () => lab.waitHealthy(180));
  expect(await lab.readChecksums(POOL, OBJECTS)).toEqual(checksums);
}

describe('adding and removing a host on real Reef packages (one cluster, in sequence)', () => {
  it('sets up: 5 nodes registered, a Reef cluster on 3 of them, a pool with checksummed data', async () => {
    await lab.timed('register 5 nodes', () => lab.registerNodes());
    const { clusterId: id, op } = await lab.timed('create cluster (reef, packages, 3 nodes)', () =>
      lab.createReefCluster(
        'day2b',
        CLUSTER_NODES.map((h) => h.replace(/^lab/, '')),
      ),
    );
    clusterId = id;
    lab.timings.push(`  create steps: ${stepTimes(op)}`);
    expect(op.status, describeOp(op)).toBe('completed');
    checksums = await lab.timed('create pool + write 8 MiB', () => lab.poolWithData(id, POOL, OBJECTS));
    expect(Object.keys(checksums)).toHaveLength(OBJECTS);
    await lab.waitHealthy(120);
    expect(Object.keys(await hostsInTree()).sort()).toEqual(CLUSTER_NODES);
    expect((await monsInQuorum()).quorum).toEqual(CLUSTER_NODES);
    for (const h of NEW_NODES) expect((await node(h)).status).toBe('ready');
  }, 900_000);

  it('(1) expand: the dry run plans with figures and changes nothing; the run adds labnode4 and labnode5 with OSDs raised from weight 0 in bounded steps, data intact', async () => {
    const id = needCluster();
    const body = { node_ids: NEW_NODES.map(idOf), max_misplaced_ratio: MAX_MISPLACED };
    const treeBefore = await hostsInTree();

    const dry = await lab.request('POST', `/v1/clusters/${id}/nodes?dry_run=true`, body);
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    const plan = dry.body.data;
    console.log(`expand dry run: ${JSON.stringify(plan.facts)}`);
    expect(plan.would_run, JSON.stringify(plan.refusals)).toBe(true);
    expect(plan.refusals).toEqual([]);
    expect(plan.steps.map((s: any) => s.name)).toContain('raise_weights');
    // Two hosts of 2 drives added to three such hosts: the new OSDs end with 40 % of the data,
    // reached in steps that each misplace at most 10 %.
    const planned = plan.facts.weight_steps as { fraction: number; data_share: number; misplaced: number }[];
    expect(planned.length).toBeGreaterThan(1);
    for (const s of planned) expect(s.misplaced).toBeLessThanOrEqual(MAX_MISPLACED + 1e-9);
    expect(planned.at(-1)!.fraction).toBe(1);
    // Nothing changed.
    expect(await hostsInTree()).toEqual(treeBefore);
    for (const h of NEW_NODES) expect((await node(h)).status).toBe('ready');

    const r = await lab.request('POST', `/v1/clusters/${id}/nodes`, body);
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    // While it runs: the new OSDs appear at CRUSH weight 0 before any is raised.
    const sawZero = await lab.timed('(1) expand: until the new OSDs exist at weight 0', async () => {
      const deadline = Date.now() + 600_000;
      for (;;) {
        const hosts = await hostsInTree();
        const osds = NEW_NODES.flatMap((h) => hosts[h] ?? []);
        if (osds.length === 4) return osds.every((o) => o.crush_weight === 0) ? osds : null;
        const o = (await lab.request('GET', `/v1/operations/${r.body.data.operation_id}`)).body.data;
        if (['completed', 'failed', 'cancelled'].includes(o.status)) return null;
        if (Date.now() > deadline)
          throw new Error(`not 4 OSDs on ${NEW_NODES.join(', ')} after 600 s: ${describeOp(o)}`);
        await new Promise((res) => setTimeout(res, 500));
      }
    });
    const op = await lab.timed('(1) expand to the end', () =>
      lab.waitForOperation(r.body.data.operation_id, undefined, 900_000),
    );
    lab.timings.push(`  (1) expand steps: ${stepTimes(op)}`);
    console.log(`expand log:\n${logsOf(op).join('\n')}`);
    expect(op.status, describeOp(op)).toBe('completed');
    expect(sawZero, 'the new OSDs were first seen at CRUSH weight 0').not.toBeNull();

    // The steps: each logged, settled, bounded by the misplaced ratio, the last at full weight.
    const steps = logsOf(op).filter((m) => /^weight step \d+\/\d+ /.test(m));
    expect(steps.length).toBeGreaterThan(1);
    expect(steps.length).toBe(op.result.weight_steps.length);
    for (const m of steps) {
      const misplaced = Number(/\(([\d.]+) % misplaced by this step\)/.exec(m)?.[1]);
      expect(misplaced, m).toBeLessThanOrEqual(MAX_MISPLACED * 100);
      expect(m).toMatch(/backfill settled, (\d+)\/\1 PGs active\+clean/);
    }
    expect(steps.at(-1)).toMatch(/\(1 of full weight\)/);

    // ceph itself: the new hosts in CRUSH with 2 OSDs each at the same full weight as the others', holding PGs.
    const tree = await hostsInTree();
    expect(Object.keys(tree).sort()).toEqual([...CLUSTER_NODES, ...NEW_NODES]);
    const added = NEW_NODES.flatMap((h) => tree[h]!);
    expect(added.map((o) => o.id)).toEqual(sawZero!.map((o) => o.id));
    const full = tree.labnode1![0]!.crush_weight;
    for (const o of added) expect(o.crush_weight, `osd.${o.id}`).toBeCloseTo(full, 3);
    const pgs = await pgsPerOsd();
    for (const o of added) expect(pgs[o.id], `PGs on osd.${o.id}`).toBeGreaterThan(0);
    // The temporary zero initial weight is gone from the config database.
    expect((await lab.ctl('ceph', 'config', 'get', 'osd', 'osd_crush_initial_weight')).trim()).not.toBe('0');

    await lab.timed('(1) healthy after expand', () => lab.waitHealthy(180));
    expect(await lab.readChecksums(POOL, OBJECTS)).toEqual(checksums);
    for (const h of NEW_NODES) {
      const n = await node(h);
      expect(n.cluster_id, h).toBe(id);
      expect(n.status, h).toBe('online');
    }
  }, 1_500_000);

  it('(2a) a removal of labnode2 cancelled while the mgrs move: the mon is put back on labnode2 with quorum kept, CRUSH unchanged, data intact', async () => {
    const id = needCluster();
    const treeBefore = await hostsInTree();
    const monsBefore = await monsInQuorum();
    expect(monsBefore.mons).toEqual(CLUSTER_NODES);
    const mgrDump = async () => {
      const m = await lab.cephJson('mgr', 'dump');
      return [m.active_name, ...(m.standbys ?? []).map((x: any) => x.name)].sort();
    };
    const mgrsBefore = await mgrDump();
    const r = await lab.request('DELETE', `/v1/clusters/${id}/nodes/${idOf('labnode2')}`, undefined, {
      'X-Confirm-Delete': 'true',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const opId = r.body.data.operation_id as string;
    const op = await lab.timed('(2a) shrink labnode2 until move_mgrs, cancelled', async () => {
      // move_mons done (labnode2's mon moved to labnode4), move_mgrs running (about 35 s on the lab).
      const moving = await lab.waitForOperation(
        opId,
        (o) => o.current_step === 'move_mgrs' || ['completed', 'failed', 'cancelled'].includes(o.status),
        600_000,
      );
      expect(moving.current_step, describeOp(moving)).toBe('move_mgrs');
      expect((await monsInQuorum()).quorum).toEqual(['labnode1', 'labnode3', 'labnode4']);
      const c = await lab.request('POST', `/v1/operations/${opId}/cancel`);
      expect(c.status, JSON.stringify(c.body)).toBe(202);
      // While it compensates: a majority of the monmap in quorum at every reading, never fewer than 3 mons.
      const deadline = Date.now() + 600_000;
      for (;;) {
        const o = (await lab.request('GET', `/v1/operations/${opId}`)).body.data;
        if (['completed', 'failed', 'cancelled'].includes(o.status)) return o;
        const q = await monsInQuorum().catch(() => null);
        if (q) {
          expect(q.quorum.length * 2, `${q.quorum.join(',')} of ${q.mons.join(',')}`).toBeGreaterThan(q.mons.length);
          expect(q.mons.length, q.mons.join(',')).toBeGreaterThanOrEqual(3);
        }
        if (Date.now() > deadline) throw new Error(`cancel still ${o.status} after 600 s: ${describeOp(o)}`);
        await new Promise((res) => setTimeout(res, 500));
      }
    });
    console.log(`(2a) cancelled shrink log:\n${logsOf(op).join('\n')}`);
    expect(op.status, describeOp(op)).toBe('cancelled');
    // Ceph as before: the mons back on labnode1-3, all in quorum; CRUSH unchanged.
    expect(await monsInQuorum()).toEqual({ mons: CLUSTER_NODES, quorum: CLUSTER_NODES });
    expect(await hostsInTree()).toEqual(treeBefore);
    // The mgrs are not asserted: the compensation runs while the cancelled placement's activity
    // may still be starting and removing mgrs (docs/shrink.md "Left for later"); printed instead.
    console.log(
      `(2a) mgrs before ${mgrsBefore.join(',')}, after ${(await mgrDump()).join(',')}; mgr keys ${(
        await lab.cephJson('auth', 'ls')
      ).auth_dump
        .map((e: any) => e.entity as string)
        .filter((e: string) => e.startsWith('mgr.'))
        .join(',')}`,
    );
    const n = await node('labnode2');
    expect([n.status, n.cluster_id]).toEqual(['online', id]);
    await lab.timed('(2a) healthy after the cancel', () => lab.waitHealthy(180));
    expect(await lab.readChecksums(POOL, OBJECTS)).toEqual(checksums);
  }, 900_000);

  it('(2) shrink labnode2 (a mon host): its mon moves to labnode4 keeping quorum, its OSDs drained and purged, the host gone, the node ready, data intact', async () => {
    await shrinkMonHost('(2)', 'labnode2', ['labnode1', 'labnode3', 'labnode4']);
  }, 1_500_000);

  it('(3) then shrink labnode3 (a mon host too): its mon moves to labnode5 although labnode2 left the cluster before', async () => {
    await shrinkMonHost('(3)', 'labnode3', ['labnode1', 'labnode4', 'labnode5']);
  }, 1_500_000);

  it('(4) removing another host when only 3 remain for a size-3 pool: 409 with the figures, nothing changed', async () => {
    const id = needCluster();
    const before = await hostsInTree();
    expect(Object.keys(before)).toHaveLength(3);
    const r = await lab.request('DELETE', `/v1/clusters/${id}/nodes/${idOf('labnode4')}`, undefined, {
      'X-Confirm-Delete': 'true',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(409);
    expect(r.body.error.code).toBe('insufficient_failure_domains');
    console.log(`refusal: ${r.body.error.message}`);
    // The figures: 2 hosts would hold data, a pool keeps 3 copies on distinct hosts, 1 short.
    expect(r.body.error.message).toMatch(/leave 2 host\(s\) holding data; pool \S+ keeps 3 copies.*1 host\(s\) short/);
    expect(await hostsInTree()).toEqual(before);
    const n = await node('labnode4');
    expect([n.status, n.cluster_id]).toEqual(['online', id]);
    expect((await monsInQuorum()).quorum).toEqual(['labnode1', 'labnode4', 'labnode5']);
    await lab.waitHealthy(60);
  }, 300_000);

  it('deletes the cluster: every member pending, the removed nodes ready, nothing left on any node', async () => {
    const id = needCluster();
    const op = await lab.timed('delete cluster', () => lab.deleteCluster(id));
    lab.timings.push(`  delete steps: ${stepTimes(op)}`);
    expect(op.status, describeOp(op)).toBe('completed');
    expect((await lab.request('GET', `/v1/clusters/${id}`)).status).toBe(404);
    await lab.expectNodesBare({ node2: 'ready', node3: 'ready' });
  }, 900_000);
});
