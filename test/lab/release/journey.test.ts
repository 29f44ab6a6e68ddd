import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../../lib/config';
import type { RunningWorker } from '../../../worker/main';
import { startTestApi, type TestApi } from '../../helpers/api';
import { startTestWorker } from '../../helpers/worker';
import { ReleaseLab, type ReleaseLabInfo } from './release-lab';

/**
 * The headline journey (issue 10), for real, through the API with a live key, the real worker, real
 * Temporal and PostgreSQL, on the release lab (test/lab/release/up.sh: 3 bare trixie nodes, Reef
 * 18.2.7 packages installed, no cluster; drives sdb and sdc each; IPMI BMCs; a local Tentacle 20.2.4
 * apt repository in every node):
 *
 *   register the nodes → create a Reef cluster with the package deployer → a pool with data,
 *   checksummed → upgrade to Tentacle node by node, paused and resumed once → drain an OSD →
 *   reboot a node through IPMI → delete the cluster.
 *
 * Each phase is timed; `ceph versions` before, during (mixed) and after the upgrade is printed.
 */
/** Its own directory and ports, so that it can run beside release-lab.test.ts (16500) in one `npm test`. */
const DIR = process.env.NF_JOURNEY_LAB_DIR ?? '/tmp/nfjourney';
const PORT_BASE = Number(process.env.NF_JOURNEY_LAB_PORT_BASE ?? 16700);

let releaseLab: ReleaseLab;
let lab: ReleaseLabInfo;
let api: TestApi;
let worker: RunningWorker;
let key: string;
const nodeIds: Record<string, string> = {};
let clusterId = '';
const checksums: Record<string, string> = {};
const timings: string[] = [];
const versions: Record<string, unknown> = {};
const journeyStarted = Date.now();

async function ctl(...args: string[]): Promise<string> {
  return releaseLab.ctl(...args);
}
/** `ceph … -f json` on node 1 (its own CLI and /etc/ceph). */
async function cephJson<T = any>(...args: string[]): Promise<T> {
  return JSON.parse(await ctl('ceph', ...args, '-f', 'json')) as T;
}
const exec = (k: number, cmd: string) => ctl('exec', String(k), cmd);

async function request(method: string, p: string, body?: unknown, headers?: Record<string, string>) {
  return api.request(method, p, { key, ...(body === undefined ? {} : { body }), ...(headers ? { headers } : {}) });
}

async function waitForOperation(id: string, until?: (op: any) => boolean, timeoutMs = 600_000): Promise<any> {
  const done = until ?? ((op: any) => ['completed', 'failed', 'cancelled'].includes(op.status));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await request('GET', `/v1/operations/${id}`);
    expect(r.status).toBe(200);
    if (done(r.body.data)) return r.body.data;
    if (Date.now() > deadline)
      throw new Error(`operation ${id} still ${r.body.data.status}: ${JSON.stringify(r.body.data).slice(-3000)}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

function describeOp(op: any): string {
  return JSON.stringify({
    status: op.status,
    error: op.error,
    logs: (op.logs ?? []).slice(-15).map((l: any) => l.message),
  });
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t = Date.now();
  try {
    return await fn();
  } finally {
    timings.push(`${label}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
}

function stepTimes(op: any): string {
  const s = (x: any) => ((Date.parse(x.finished_at) - Date.parse(x.started_at)) / 1000).toFixed(1);
  return op.steps
    .filter((x: any) => x.started_at && x.finished_at)
    .map((x: any) => `${x.name} ${s(x)} s`)
    .join(', ');
}

/** Ready the way the product means it: HEALTH_OK (or only the allowed checks), all PGs active+clean. */
async function waitHealthy(timeoutS: number, allow: string[] = []): Promise<any> {
  const deadline = Date.now() + timeoutS * 1000;
  let last: any = null;
  for (;;) {
    const s = await cephJson('status');
    const checks = Object.keys(s.health?.checks ?? {}).filter((c) => !allow.some((a) => c.startsWith(a)));
    const pgs = s.pgmap?.num_pgs ?? 0;
    const clean = (s.pgmap?.pgs_by_state ?? [])
      .filter((x: any) => x.state_name === 'active+clean')
      .reduce((n: number, x: any) => n + x.count, 0);
    last = { health: s.health?.status, checks: Object.keys(s.health?.checks ?? {}), pgs, clean };
    if (checks.length === 0 && pgs > 0 && clean === pgs) return s;
    if (Date.now() > deadline) throw new Error(`not healthy after ${timeoutS} s: ${JSON.stringify(last)}`);
    await new Promise((res) => setTimeout(res, 1000));
  }
}

const OBJECTS = 8;
/** sha256 of each object as read back from the pool inside node 1. */
async function readChecksums(): Promise<Record<string, string>> {
  const out = await exec(
    1,
    `set -e; d=$(mktemp -d); for i in $(seq 1 ${OBJECTS}); do rados -p journey get obj$i $d/obj$i; done; cd $d; sha256sum obj*; rm -rf $d`,
  );
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .map(([sum, name]) => [name!, sum!]),
  );
}

beforeAll(async () => {
  releaseLab = await timed('lab up (up.sh)', () => ReleaseLab.start({ dir: DIR, portBase: PORT_BASE }));
  lab = releaseLab.info;
  // Lab adaptations, not product (Debian's units read /etc/default/ceph): this machine's / has about
  // 27 % free, below mon_data_avail_warn (30 %), so every mon would warn MON_DISK_LOW; and Debian's
  // Reef has a relative default osd_class_dir that only works from cwd / (systemd's), which the
  // lab's systemctl shim may not give its daemons (then cls_lock is missing and the mgr's
  // devicehealth module fails with an I/O error: HEALTH_ERR).
  for (const k of [1, 2, 3])
    await exec(
      k,
      `echo 'CEPH_ARGS="--mon-data-avail-warn 5 --osd-class-dir /usr/lib/x86_64-linux-gnu/rados-classes"' > /etc/default/ceph`,
    );
  api = await startTestApi({
    NF_POLL_INTERVAL_MS: '1000',
    NF_WAIT_POWER_MS: '60000',
    NF_WAIT_SSH_MS: '60000',
    NF_WAIT_CEPH_MS: '300000',
    NF_SSH_READY_TIMEOUT_MS: '10000',
    NF_ALLOW_LOCAL_ADDRESSES: 'true',
    // The package deployer in the lab: every mon on 127.0.0.1, so each its own port; daemons bind
    // in the lab's range; the upgrade installs Tentacle from the lab's local repository.
    NF_CEPH_MON_PORT_BASE: String(lab.cephPortBase),
    NF_CEPH_BIND_PORT_RANGE: `${lab.cephPortRange[0]}-${lab.cephPortRange[1]}`,
    NF_CEPH_APT_SOURCES: JSON.stringify(lab.upgradeRepo),
  });
  worker = await startTestWorker(
    { ...api.config, logLevel: (process.env.NF_TEST_LOG_LEVEL ?? 'silent') as Config['logLevel'] },
    api.db,
  );
  key = api.account.keys.live;
}, 300_000);

afterAll(async () => {
  await worker?.shutdown();
  await api?.close();
  if (releaseLab) await timed('lab down (down.sh)', () => releaseLab.stop());
  timings.push(`whole journey file: ${((Date.now() - journeyStarted) / 1000).toFixed(1)} s`);
  console.log(`journey timings:\n  ${timings.join('\n  ')}`);
  for (const [when, v] of Object.entries(versions))
    console.log(`ceph versions ${when}:\n${JSON.stringify(v, null, 1)}`);
}, 300_000);

function needCluster(): string {
  if (!clusterId) throw new Error('needs the cluster created by the create test (see the first failure)');
  return clusterId;
}

describe('the headline journey on real Reef/Tentacle packages', () => {
  it('registers the 3 lab nodes over SSH: the inventory sees each node’s two drives, SMART passed', async () => {
    await timed('register 3 nodes', async () => {
      const started = await Promise.all(
        lab.nodes.map((n) =>
          request('POST', '/v1/nodes', {
            hostname: n.hostname,
            ip_address: n.ssh.host,
            ssh_port: n.ssh.port,
            ssh_user: n.ssh.user,
            ssh_private_key: readFileSync(lab.clientKey, 'utf8'),
            ipmi_address: n.bmc.host,
            ipmi_port: n.bmc.port,
            ipmi_username: n.bmc.username,
            ipmi_password: n.bmc.password,
          }),
        ),
      );
      for (const [i, r] of started.entries()) {
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        const op = await waitForOperation(r.body.data.operation_id);
        expect(op.status, describeOp(op)).toBe('completed');
        const node = (await request('GET', `/v1/nodes/${r.body.data.id}`)).body.data;
        expect(node.status).toBe('ready');
        expect(node.drives.map((d: any) => [d.device, d.smart_ok])).toEqual(lab.nodes[i]!.drives.map((d) => [d, true]));
        nodeIds[lab.nodes[i]!.name] = node.id;
      }
    });
  }, 180_000);

  it('creates a Reef cluster with the package deployer: 3 mons, 2 mgrs, one OSD per drive, HEALTH_OK, PGs clean', async () => {
    expect(Object.keys(nodeIds)).toHaveLength(3);
    const op = await timed('create cluster (reef, packages)', async () => {
      const r = await request('POST', '/v1/clusters', {
        name: 'journey',
        node_ids: lab.nodes.map((n) => nodeIds[n.name]),
        ceph_version: 'reef',
        deployment: 'packages',
      });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      clusterId = r.body.data.id;
      return waitForOperation(r.body.data.operation_id);
    });
    console.log(`create steps: ${stepTimes(op)}`);
    timings.push(`  create steps: ${stepTimes(op)}`);
    expect(op.status, describeOp(op)).toBe('completed');
    const c = (await request('GET', `/v1/clusters/${clusterId}`)).body.data;
    expect(c).toMatchObject({ deployment: 'packages', ceph_version: 'reef', status: 'HEALTH_OK', osd_count: 6 });

    // Ceph's own view, from node 1's CLI.
    const s = await waitHealthy(60);
    expect(s.health.status).toBe('HEALTH_OK');
    expect([...s.quorum_names].sort()).toEqual(['labnode1', 'labnode2', 'labnode3']);
    const mgr = await cephJson('mgr', 'dump');
    expect([mgr.active_name, ...mgr.standbys.map((x: any) => x.name)].sort()).toEqual(['labnode1', 'labnode2']);
    const meta = await cephJson<any[]>('osd', 'metadata');
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
    const units = await exec(2, 'ls /etc/systemd/system/ceph-*.target.wants/');
    expect(units).toMatch(/ceph-mon@labnode2\.service/);
    expect(units).toMatch(/ceph-mgr@labnode2\.service/);
    expect(units).toMatch(/ceph-osd@\d+\.service[\s\S]*ceph-osd@\d+\.service/);
    versions.before = await cephJson('versions');
  }, 600_000);

  it('creates a pool through the API and writes checksummed data into it', async () => {
    const id = needCluster();
    await timed('create pool + write 8 MiB', async () => {
      const r = await request('POST', `/v1/clusters/${id}/pools`, {
        name: 'journey',
        type: 'replicated',
        replication_factor: 3,
        pg_autoscale: false,
        application: 'rgw',
      });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      const op = await waitForOperation(r.body.data.operation_id);
      expect(op.status, describeOp(op)).toBe('completed');
      const out = await exec(
        1,
        `set -e; d=$(mktemp -d); for i in $(seq 1 ${OBJECTS}); do head -c 1048576 /dev/urandom > $d/obj$i; rados -p journey put obj$i $d/obj$i; done; cd $d; sha256sum obj*; rm -rf $d`,
      );
      for (const [sum, name] of out
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/)))
        checksums[name!] = sum!;
    });
    expect(Object.keys(checksums)).toHaveLength(OBJECTS);
    expect(await readChecksums()).toEqual(checksums);
    await waitHealthy(120);
  }, 300_000);

  it('upgrades to Tentacle node by node (max_concurrent 1), paused and resumed once: every daemon on 20.2.4, require-osd-release tentacle, data intact, no flag left', async () => {
    const id = needCluster();
    let opId = '';
    const op = await timed('upgrade reef → tentacle (3 nodes, in-place apt)', async () => {
      const r = await request('POST', `/v1/clusters/${id}/upgrade`, { ceph_version: 'tentacle', max_concurrent: 1 });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      opId = r.body.data.operation_id;
      // Pause once in the middle: when the OSD hosts are being upgraded.
      const mid = await waitForOperation(
        opId,
        (o) =>
          o.current_step === 'upgrade_osd_hosts' || ['completed', 'failed', 'cancelled', 'paused'].includes(o.status),
      );
      expect(mid.status, describeOp(mid)).toBe('in_progress');
      const p = await request('POST', `/v1/operations/${opId}/pause`);
      expect(p.status, JSON.stringify(p.body)).toBeLessThan(300);
      const paused = await waitForOperation(opId, (o) => o.status !== 'in_progress');
      expect(paused.status, describeOp(paused)).toBe('paused');
      versions.mixed = await cephJson('versions');
      const resumed = await request('POST', `/v1/operations/${opId}/resume`);
      expect(resumed.status, JSON.stringify(resumed.body)).toBeLessThan(300);
      return waitForOperation(opId, (o) => o.status !== 'in_progress', 900_000);
    }).finally(async () => {
      // An upgrade that stopped (paused on a failure) holds the cluster: cancel it so that the rest
      // of the journey can run, and show where it stopped.
      if (!opId) return;
      const o = (await request('GET', `/v1/operations/${opId}`)).body.data;
      if (o.status === 'paused' || o.status === 'in_progress') {
        await request('POST', `/v1/operations/${opId}/cancel`);
        await waitForOperation(opId);
      }
    });
    timings.push(`  upgrade steps: ${stepTimes(op)}`);
    expect(op.status, describeOp(op)).toBe('completed');
    versions.after = await cephJson('versions');
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
    expect((await cephJson('osd', 'dump')).require_osd_release).toBe('tentacle');
    expect(await readChecksums()).toEqual(checksums);
    const dump = await cephJson('osd', 'dump');
    expect(dump.flags.split(',')).not.toContain('noout');
    expect(Object.keys(dump.crush_node_flags ?? {})).toEqual([]);
    // Tentacle keeps the cluster's cephx keys (decision 4): only the AUTH_INSECURE_* checks remain.
    await waitHealthy(180, ['AUTH_INSECURE_']);
  }, 1_200_000);

  it('drains an OSD to 0 through the API (its PGs leave it), then back to full weight', async () => {
    const id = needCluster();
    const osd = 1;
    await timed('drain osd.1 to 0 and back', async () => {
      for (const weight of [0, 1]) {
        const r = await request('POST', `/v1/clusters/${id}/osds/${osd}/reweight`, { weight });
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        const op = await waitForOperation(r.body.data.operation_id);
        expect(op.status, describeOp(op)).toBe('completed');
        if (weight === 0) {
          const df = await cephJson<{ nodes: { id: number; crush_weight: number; pgs: number }[] }>('osd', 'df');
          expect(df.nodes.find((n) => n.id === osd)).toMatchObject({ crush_weight: 0, pgs: 0 });
        }
      }
    });
    await waitHealthy(180, ['AUTH_INSECURE_']);
    expect(await readChecksums()).toEqual(checksums);
  }, 600_000);

  it('reboots a node through IPMI (graceful, noout): its OSDs come back by themselves (enabled units)', async () => {
    needCluster();
    const op = await timed('reboot labnode3 through IPMI', async () => {
      const r = await request('POST', `/v1/nodes/${nodeIds.node3}/reboot`, { method: 'graceful', drain_osds: true });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      return waitForOperation(r.body.data.operation_id);
    });
    timings.push(`  reboot steps: ${stepTimes(op)}`);
    expect(op.status, describeOp(op)).toBe('completed');
    const dump = await cephJson('osd', 'dump');
    expect(dump.osds.every((o: any) => o.up === 1 && o.in === 1)).toBe(true);
    expect(Object.keys(dump.crush_node_flags ?? {})).toEqual([]);
    await waitHealthy(180, ['AUTH_INSECURE_']);
    expect(await readChecksums()).toEqual(checksums);
  }, 600_000);

  it('deletes the cluster: daemons stopped, devices zapped, nodes pending', async () => {
    const id = needCluster();
    const op = await timed('delete cluster', async () => {
      const r = await request('DELETE', `/v1/clusters/${id}`, undefined, { 'X-Confirm-Delete': 'true' });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      return waitForOperation(r.body.data.operation_id);
    });
    timings.push(`  delete steps: ${stepTimes(op)}`);
    expect(op.status, describeOp(op)).toBe('completed');
    expect(op.logs.map((l: any) => l.message).join('\n')).toContain('6 OSD device(s) wiped');
    expect((await request('GET', `/v1/clusters/${id}`)).status).toBe(404);
    for (const n of lab.nodes) {
      expect((await request('GET', `/v1/nodes/${nodeIds[n.name]}`)).body.data.status).toBe('pending');
    }
    for (const k of [1, 2, 3]) {
      // No Ceph unit active (the lab's nodes share the machine's PIDs: ask the node's systemctl, not
      // ps), no data, config or keyring (Debian's own /etc/ceph/rbdmap stays), no bluestore label.
      const left = await exec(
        k,
        'echo "daemons: $(for u in /run/nflab/units/ceph-*; do [ -d "$u" ] && systemctl is-active "${u##*/}"; done | grep -c "^active")"; echo "data: $(ls -A /var/lib/ceph/mon /var/lib/ceph/mgr /var/lib/ceph/osd | grep -v ":$" | grep -c .)"; echo "config: $(ls /etc/ceph/ceph.conf /etc/ceph/*.keyring 2>/dev/null | wc -l)"; for d in /dev/sdb /dev/sdc; do echo "$d: $(ceph-volume raw list $d --format json 2>/dev/null | tr -d " \\n")"; done',
      );
      expect(left.trim().split('\n'), `node ${k}`).toEqual([
        'daemons: 0',
        'data: 0',
        'config: 0',
        '/dev/sdb: {}',
        '/dev/sdc: {}',
      ]);
    }
  }, 300_000);
});
