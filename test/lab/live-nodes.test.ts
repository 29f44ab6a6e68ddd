import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCephCliDriver } from '../../drivers/real/ceph-cli';
import { createIpmiPowerDriver } from '../../drivers/real/ipmi-power';
import { createSshShellDriver } from '../../drivers/real/ssh-shell';
import type { BmcTarget, SshTarget } from '../../drivers/types';
import type { Config } from '../../lib/config';
import type { RunningWorker } from '../../worker/main';
import { startTestApi, type TestApi } from '../helpers/api';
import { startTestWorker } from '../helpers/worker';
import { Lab } from './lab';

/**
 * NodeFoundry against real peers: the real API and worker with live keys and the real drivers
 * (ipmitool, ssh2, the ceph CLI over SSH), driving the lab (test/lab/up.sh): fake nodes that are
 * real OpenSSH servers with OpenIPMI BMCs whose power really stops and starts them, and a real
 * Ceph 16.2 cluster with one OSD per node holding data.
 *
 * The lab cluster cannot be created with cephadm (no containers here): it is adopted with
 * POST /v1/clusters/import, as a user with an existing cluster would, and every later test runs on
 * that imported cluster.
 */
let lab: Lab;
let api: TestApi;
let worker: RunningWorker;
let key: string;
const nodeIds: Record<string, string> = {};
let clusterId: string;
const timings: string[] = [];
const suiteStarted = Date.now();

beforeAll(async () => {
  lab = await Lab.start();
  timings.push(`lab start (up.sh): ${lab.startSeconds.toFixed(1)} s`);
  // Waits bounded to what the lab needs, so a failure path ends in seconds, not hours.
  api = await startTestApi({
    NF_POLL_INTERVAL_MS: '500',
    NF_WAIT_POWER_MS: '20000',
    NF_WAIT_SSH_MS: '30000',
    NF_WAIT_CEPH_MS: '30000',
    NF_SSH_READY_TIMEOUT_MS: '5000',
    // The lab's machines listen on loopback (sshd and the BMC simulators): allow it for live keys.
    NF_ALLOW_LOCAL_ADDRESSES: 'true',
  });
  // The API helper logs at debug level (its tests read the lines); the worker stays quiet.
  worker = await startTestWorker(
    { ...api.config, logLevel: (process.env.NF_TEST_LOG_LEVEL ?? 'silent') as Config['logLevel'] },
    api.db,
  );
  key = api.account.keys.live;
}, 180_000);

afterAll(async () => {
  await worker?.shutdown();
  await api?.close();
  await lab?.stop();
  timings.push(`whole file: ${((Date.now() - suiteStarted) / 1000).toFixed(1)} s`);
  console.log(`lab timings:\n  ${timings.join('\n  ')}`);
}, 120_000);

async function request(method: string, path: string, body?: unknown) {
  return api.request(method, path, { key, ...(body === undefined ? {} : { body }) });
}

/** Polls the operation through the API until it is terminal (or `until` holds). */
async function waitForOperation(id: string, until?: (op: any) => boolean, timeoutMs = 150_000): Promise<any> {
  const done = until ?? ((op: any) => ['completed', 'failed', 'cancelled'].includes(op.status));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await request('GET', `/v1/operations/${id}`);
    expect(r.status).toBe(200);
    if (done(r.body.data)) return r.body.data;
    if (Date.now() > deadline)
      throw new Error(`operation ${id} still ${r.body.data.status}: ${JSON.stringify(r.body.data)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

function registration(name: string, overrides: Record<string, unknown> = {}) {
  const n = lab.node(name);
  return {
    hostname: n.hostname,
    ip_address: n.ssh.host,
    ssh_port: n.ssh.port,
    ssh_user: n.ssh.user,
    ssh_private_key: lab.clientKey(),
    ipmi_address: n.bmc.host,
    ipmi_port: n.bmc.port,
    ipmi_username: n.bmc.username,
    ipmi_password: n.bmc.password,
    ...overrides,
  };
}

/** Attempts of each activity type in the workflow's history. */
async function activityAttempts(workflowId: string): Promise<Record<string, number[]>> {
  const history = await api.client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Map<string, string>();
  const out: Record<string, number[]> = {};
  for (const e of history.events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '?');
    const st = e.activityTaskStartedEventAttributes;
    if (st) {
      const name = scheduled.get(String(st.scheduledEventId)) ?? '?';
      (out[name] ??= []).push(st.attempt ?? 1);
    }
  }
  return out;
}

/**
 * The tests after the import run on the cluster it adopted, with the nodes registered before it.
 * When those did not complete, the later tests fail here at once, naming the cause, instead of
 * acting on nodes outside any cluster and leaving faults behind that fail the tests after them.
 */
function imported(): string {
  if (!clusterId || lab.info.nodes.some((n) => !nodeIds[n.name])) {
    throw new Error(
      'needs the lab nodes registered and the lab cluster imported, and those tests did not complete (see the first failure)',
    );
  }
  return clusterId;
}

function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t = Date.now();
  return fn().finally(() => timings.push(`${label}: ${((Date.now() - t) / 1000).toFixed(1)} s`));
}

const sshTarget = (name: string, pinned: string | null = lab.node(name).ssh.fingerprint): SshTarget => ({
  host: lab.node(name).ssh.host,
  port: lab.node(name).ssh.port,
  username: lab.node(name).ssh.user,
  privateKey: lab.clientKey(),
  pinnedFingerprint: pinned,
});
const bmcTarget = (name: string, password = lab.node(name).bmc.password): BmcTarget => ({
  address: lab.node(name).bmc.host,
  port: lab.node(name).bmc.port,
  username: lab.node(name).bmc.username,
  password,
});

describe('the real drivers against the lab peers', () => {
  const shell = () => createSshShellDriver({ readyTimeoutMs: 5_000 });
  // A lab BMC answers a power-off only once the node's processes are gone (its chassis hook runs
  // synchronously): seconds on a loaded 2-core machine, past the production driver's 2 s reply
  // timeout, which an activity retries. These tests call the driver once: give it 6 s per reply.
  const power = () => createIpmiPowerDriver({ ipmitoolPath: 'ipmitool', replyTimeoutSec: 6 });

  it('ssh2 → OpenSSH: pins the key ssh-keygen prints, refuses another, real exit codes and stderr', async () => {
    const first = await shell().connect(sshTarget('node1', null));
    try {
      expect(first.hostKeyFingerprint).toBe(lab.node('node1').ssh.fingerprint);
      expect(await first.exec('echo out; echo err >&2; exit 3')).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
      expect((await first.exec('no-such-command-nf')).code).toBe(127);
      await expect(first.run('false')).rejects.toMatchObject({ type: 'command_failed', retryable: false });
      // The login user's environment: not root, the lab's systemctl first in PATH.
      expect((await first.run('id -un; command -v systemctl')).trim().split('\n')).toEqual([
        lab.info.user,
        `${lab.dir}/node-bin/systemctl`,
      ]);
    } finally {
      first.close();
    }
    await expect(shell().connect(sshTarget('node1', lab.node('node2').ssh.fingerprint))).rejects.toMatchObject({
      type: 'host_key_mismatch',
      retryable: false,
    });
  });

  it('ssh2 → OpenSSH: a timed-out command is killed on the node, not left running', async () => {
    const s = await shell().connect(sshTarget('node1'));
    try {
      await expect(s.exec('sleep 37.5', { timeoutMs: 500 })).rejects.toMatchObject({
        type: 'command_failed',
        retryable: true,
      });
      expect(await s.run('echo still usable')).toBe('still usable\n');
    } finally {
      s.close();
    }
    await expect
      .poll(
        () =>
          execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
            .split('\n')
            .filter((l) => l.includes('sleep 37.5')),
        { timeout: 5_000 },
      )
      .toEqual([]);
  });

  it('ipmitool → ipmi_sim: status, bootdev read back from the BMC; a wrong password is refused in milliseconds; silence costs the reply timeout', async () => {
    expect(await power().status(bmcTarget('node1'))).toBe('on');
    const before = lab.powerActions('node1').length;
    await power().bootDevice(bmcTarget('node1'), 'pxe');
    await power().bootDevice(bmcTarget('node1'), 'disk');
    expect(lab.powerActions('node1').slice(before)).toEqual(['bootdev pxe', 'bootdev default']);
    let t = Date.now();
    await expect(power().status(bmcTarget('node1', 'wrong-password'))).rejects.toMatchObject({
      type: 'bmc_auth_failed',
      retryable: false,
    });
    expect(Date.now() - t).toBeLessThan(2_000);
    t = Date.now();
    // A port no BMC of the lab listens on: ipmitool waits for a reply that never comes.
    const nobody = { ...bmcTarget('node1'), port: lab.node('node1').bmc.port + 40 };
    await expect(power().status(nobody)).rejects.toMatchObject({ type: 'bmc_unreachable', retryable: true });
    expect(Date.now() - t).toBeGreaterThan(1_500);
    // A BMC that answers but cannot act: the failure comes back at once and is worth a retry;
    // bootdev exits 0 then, only stderr says the BMC refused.
    await lab.ctl('fault', '1', 'bmc-fail', 'on');
    try {
      await expect(power().status(bmcTarget('node1'))).rejects.toMatchObject({
        type: 'bmc_unreachable',
        retryable: true,
        message: expect.stringContaining('Unspecified error'),
      });
      await expect(power().bootDevice(bmcTarget('node1'), 'pxe')).rejects.toMatchObject({
        type: 'bmc_unreachable',
        message: expect.stringContaining('Set Chassis Boot Parameter'),
      });
    } finally {
      await lab.ctl('fault', '1', 'bmc-fail', 'off');
    }
  });

  it('IPMI power off under a running SSH command: the node goes dark, the command fails retryably; power on brings SSH back', async () => {
    const node = 'node3';
    const before = lab.powerActions(node).length;
    const s = await shell().connect(sshTarget(node));
    try {
      // Its failure is taken at once: the cut is over (and the session lost) before off returns.
      const running = s.exec('sleep 30', { timeoutMs: 60_000 }).then(
        (r) => ({ resolved: r }),
        (e: unknown) => e,
      );
      await power().off(bmcTarget(node));
      expect(await running).toMatchObject({ type: 'ssh_unreachable', retryable: true });
      expect(await power().status(bmcTarget(node))).toBe('off');
      // The cut is complete when the BMC answers: nothing on the node accepts a connection.
      await expect(shell().connect(sshTarget(node))).rejects.toMatchObject({
        type: 'ssh_unreachable',
        message: expect.stringContaining('connection refused'),
      });
    } finally {
      s.close();
      // Powered on whatever happened above: a node left dark would fail every later test.
      await power().on(bmcTarget(node));
    }
    await expect
      .poll(
        async () =>
          shell()
            .connect(sshTarget(node))
            .then(
              (c) => (c.close(), true),
              () => false,
            ),
        { timeout: 20_000, interval: 250 },
      )
      .toBe(true);
    expect(lab.powerActions(node).slice(before)).toEqual(['off', 'on']);
    await expect.poll(async () => (await lab.osdsUp())[lab.node(node).osds[0]!], { timeout: 30_000 }).toBe(true);
    await lab.waitClean(60);
  }, 120_000);

  it('ceph CLI over SSH on the admin node: real status, OSD tree with CRUSH hosts, ok-to-stop both ways, host noout read back, systemctl on the OSD host', async () => {
    const ceph = createCephCliDriver({
      adminShell: () => shell().connect(sshTarget('node1')),
      hostShell: (host) => shell().connect(sshTarget(lab.info.nodes.find((n) => n.hostname === host)!.name)),
    });
    const status = await ceph.status();
    expect(status).toMatchObject({
      health: 'HEALTH_OK',
      osds_total: 3,
      osds_up: 3,
      osds_in: 3,
      mgr_available: true,
      mons_in_quorum: ['labnode1', 'labnode2', 'labnode3'],
      flags: [],
    });
    expect(status.pgs_total).toBeGreaterThan(1);
    expect(status.pgs_active_clean).toBe(status.pgs_total);
    const osds = await ceph.osds();
    expect(osds.map((o) => [o.id, o.host, o.up, o.in])).toEqual(
      lab.info.nodes.map((n) => [n.osds[0], n.hostname, true, true]),
    );
    expect(osds.every((o) => o.pgs > 0)).toBe(true);
    expect(await ceph.okToStop([1])).toEqual({ ok: true, reason: null });
    const notOk = await ceph.okToStop([0, 1]);
    expect(notOk.ok).toBe(false);
    expect(notOk.reason).toMatch(/PGs are or would become offline/);

    await ceph.setGroupNoout('labnode3');
    try {
      expect(await ceph.nooutHosts()).toEqual(['labnode3']);
      expect((await ceph.status()).flags).toEqual(['noout']);
      await ceph.stopOsds('labnode3', [2]);
      expect(lab.readNodeFile('node3', 'systemctl.log')).toMatch(/stop ceph-osd@2\n$/);
      await expect.poll(async () => (await lab.osdsUp())[2], { timeout: 15_000 }).toBe(false);
      // A unit of another host does not exist on this one.
      await expect(ceph.stopOsds('labnode3', [1])).rejects.toMatchObject({
        type: 'command_failed',
        message: expect.stringContaining('not found'),
      });
      await ceph.startOsds('labnode3', [2]);
      await expect.poll(async () => (await lab.osdsUp())[2], { timeout: 30_000 }).toBe(true);
    } finally {
      await ceph.unsetGroupNoout('labnode3');
    }
    expect(await ceph.nooutHosts()).toEqual([]);
    await lab.waitClean(60);
  }, 180_000);
});

describe('live nodes against the lab (real ipmitool, OpenSSH, Ceph 16.2)', () => {
  it('a BMC that refuses the password fails registration fast with bmc_auth_failed, tried once', async () => {
    await timed('wrong BMC password', async () => {
      const started = Date.now();
      const r = await request('POST', '/v1/nodes', registration('node1', { ipmi_password: 'not-the-password' }));
      expect(r.status).toBe(202);
      const op = await waitForOperation(r.body.data.operation_id);
      const elapsed = Date.now() - started;
      expect(op.status).toBe('failed');
      expect(op.error.code).toBe('bmc_auth_failed');
      expect(op.steps.find((s: any) => s.name === 'check_bmc').status).toBe('failed');
      // Fast: no reply-timeout wait, no retries with backoff.
      expect(elapsed).toBeLessThan(15_000);
      const attempts = await activityAttempts(op.temporal.workflow_id);
      expect(attempts.checkBmc).toEqual([1]);
      const node = (await request('GET', `/v1/nodes/${r.body.data.id}`)).body.data;
      expect(node.status).toBe('error');
      // The machine's addresses are free again for its correct registration.
      expect((await request('DELETE', `/v1/nodes/${r.body.data.id}`)).status).toBe(204);
    });
  });

  it('registers the lab nodes over real SSH: real CPU, memory and block devices; host key pinned', async () => {
    await timed('register 3 nodes', async () => {
      const started = await Promise.all(lab.info.nodes.map((n) => request('POST', '/v1/nodes', registration(n.name))));
      const nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
      const memKb = Number(/^MemTotal:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]);
      const lsblk = JSON.parse(
        execFileSync('lsblk', ['-J', '-b', '-d', '-o', 'NAME,SIZE,ROTA,TRAN,TYPE'], { encoding: 'utf8' }),
      );
      const disks = (lsblk.blockdevices as any[])
        .filter((d) => d.type === 'disk' && Number(d.size) > 0 && !/^(loop|ram|zram|md|dm-|nbd|fd)\d*/.test(d.name))
        .map((d) => d.name)
        .sort();
      expect(disks.length).toBeGreaterThan(0);
      for (const [i, r] of started.entries()) {
        const n = lab.info.nodes[i]!;
        expect(r.status).toBe(202);
        const op = await waitForOperation(r.body.data.operation_id);
        expect(op.status, JSON.stringify(op.error)).toBe('completed');
        expect(op.logs.map((l: any) => l.message).join('\n')).toContain(`host key pinned: ${n.ssh.fingerprint}`);
        const node = (await request('GET', `/v1/nodes/${r.body.data.id}`)).body.data;
        expect(node.status).toBe('ready');
        expect(node.ssh_host_key_fingerprint).toBe(n.ssh.fingerprint);
        expect(node.cpu_cores).toBe(nproc);
        expect(node.ram_gb).toBe(Math.round(memKb / 1024 / 1024));
        expect(node.drives.map((d: any) => d.device).sort()).toEqual(disks);
        // No smartctl on the lab nodes: every drive is reported, none is claimed healthy.
        expect(node.drives.every((d: any) => d.smart_ok === false)).toBe(true);
        expect(op.result).toMatchObject({ power: 'on', cpu_cores: nproc });
        nodeIds[n.name] = node.id;
      }
    });
  });

  it('imports the lab cluster (POST /v1/clusters/import): refused without every Ceph host; then fsid, version, OSDs and pools as Ceph has them', async () => {
    await timed('import (refused, then adopted)', async () => {
      // Without node3, Ceph has daemons on a host NodeFoundry could not reach: refused, nothing kept.
      const partial = await request('POST', '/v1/clusters/import', {
        name: 'lab',
        admin_node_id: nodeIds.node1,
        node_ids: [nodeIds.node1, nodeIds.node2],
      });
      expect(partial.status).toBe(202);
      const refused = await waitForOperation(partial.body.data.operation_id);
      expect(refused.status).toBe('failed');
      expect(refused.error.code).toBe('unknown_hosts');
      expect(refused.error.message).toContain('labnode3');
      expect((await request('GET', `/v1/clusters/${partial.body.data.id}`)).status).toBe(404);
      for (const id of [nodeIds.node1, nodeIds.node2])
        expect((await request('GET', `/v1/nodes/${id}`)).body.data).toMatchObject({
          status: 'ready',
          cluster_id: null,
        });

      const r = await request('POST', '/v1/clusters/import', {
        name: 'lab',
        admin_node_id: nodeIds.node1,
        node_ids: Object.values(nodeIds),
      });
      expect(r.status).toBe(202);
      expect(r.body.data.status).toBe('IMPORTING');
      const op = await waitForOperation(r.body.data.operation_id);
      expect(op.status, JSON.stringify(op.error)).toBe('completed');
      clusterId = r.body.data.id;
      // The lab's pool keeps 2 copies on the default host rule; the mgr's own pool is not the user's.
      expect(op.result).toMatchObject({
        fsid: lab.info.ceph.fsid,
        ceph_version: 'pacific',
        ceph_point_version: '16.2.15',
        failure_domain: 'host',
        replication_factor: 2,
        health: 'HEALTH_OK',
        osds: 3,
        pools: [lab.info.ceph.pool],
      });
      const c = (await request('GET', `/v1/clusters/${clusterId}`)).body.data;
      expect(c).toMatchObject({
        status: 'HEALTH_OK',
        fsid: lab.info.ceph.fsid,
        admin_node_id: nodeIds.node1,
        node_count: 3,
        osd_count: 3,
        pool_count: 1,
        ceph_version: 'pacific',
        ceph_point_version: '16.2.15',
      });
      // Members are listed in registration order, and the lab registers its nodes concurrently.
      expect(c.nodes.map((n: any) => [n.hostname, n.status]).sort()).toEqual(
        lab.info.nodes.map((n) => [n.hostname, 'online']).sort(),
      );
      const pools = (await request('GET', `/v1/clusters/${clusterId}/pools`)).body.data;
      expect(pools.map((p: any) => [p.name, p.type, p.size, p.status])).toEqual([
        [lab.info.ceph.pool, 'replicated', 2, 'active'],
      ]);
      const osds = await request('GET', `/v1/clusters/${clusterId}/osds`);
      expect(osds.status).toBe(200);
      expect(osds.body.data.map((o: any) => [o.osd_id, o.host, o.node_id])).toEqual(
        lab.info.nodes.map((n) => [n.osds[0], n.hostname, nodeIds[n.name]]),
      );
      console.log(
        `import: ${JSON.stringify({ status: op.status, steps: op.steps.map((st: any) => [st.name, st.status]), logs: op.logs.map((l: any) => l.message), result: op.result })}`,
      );
    });
  });

  it('reboots a member through real IPMI while its OSD holds data: noout, OSD down, one soft-off/on, OSD up, noout unset, PGs clean', async () => {
    imported();
    const target = lab.node('node2');
    const osd = target.osds[0]!;
    const df = await lab.cephJson<{ nodes: { id: number; pgs: number; kb_used_data: number }[] }>('osd', 'df');
    const before = df.nodes.find((n) => n.id === osd)!;
    expect(before.pgs).toBeGreaterThan(0);
    expect(before.kb_used_data).toBeGreaterThan(10_000);
    const objectsBefore = (await lab.cephJson('df')).pools.find((p: any) => p.name === lab.info.ceph.pool).stats
      .objects;

    const actionsBefore = Object.fromEntries(lab.info.nodes.map((n) => [n.name, lab.powerActions(n.name).length]));
    await timed('reboot of a member (graceful)', async () => {
      const r = await request('POST', `/v1/nodes/${nodeIds.node2}/reboot`, { method: 'graceful', drain_osds: true });
      expect(r.status).toBe(202);
      const id = r.body.data.operation_id;
      // While it runs, the cluster itself shows what NodeFoundry did.
      let sawNoout = false;
      let sawDown = false;
      let op: any;
      for (;;) {
        op = (await request('GET', `/v1/operations/${id}`)).body.data;
        const [flags, up] = await Promise.all([lab.nooutState(), lab.osdsUp()]);
        if (flags.nooutHosts.includes(target.hostname)) sawNoout = true;
        if (up[osd] === false) sawDown = true;
        if (['completed', 'failed', 'cancelled'].includes(op.status)) break;
        await new Promise((res) => setTimeout(res, 200));
      }
      expect(op.status, JSON.stringify(op.error)).toBe('completed');
      expect(op.steps.map((s: any) => [s.name, s.status])).toEqual(
        [
          'preflight',
          'set_noout',
          'stop_osds',
          'power_off',
          'power_on',
          'wait_ssh',
          'wait_osds_up',
          'unset_noout',
          'wait_clean',
        ].map((s) => [s, 'completed']),
      );
      expect(sawNoout).toBe(true);
      expect(sawDown).toBe(true);
    });

    // Exactly one power cycle of node2, through its BMC; the other BMCs did nothing.
    expect(lab.powerActions('node2').slice(actionsBefore.node2)).toEqual(['soft', 'on']);
    expect(lab.powerActions('node1').slice(actionsBefore.node1)).toEqual([]);
    expect(lab.powerActions('node3').slice(actionsBefore.node3)).toEqual([]);
    // The OSD was stopped through systemctl on its own host, before the power went.
    expect(lab.readNodeFile('node2', 'systemctl.log')).toMatch(new RegExp(`stop ceph-osd@${osd}\\b`));
    console.log(`BMC hook log of node2 (actions.log):\n${lab.readNodeFile('node2', 'actions.log')}`);
    console.log(`node2 power log:\n${lab.readNodeFile('node2', 'power.log')}`);

    expect((await lab.osdsUp())[osd]).toBe(true);
    expect(await lab.nooutState()).toMatchObject({ nooutHosts: [] });
    expect((await lab.nooutState()).flags).not.toContain('noout');
    await lab.waitClean(60);
    // Bluestore: the OSD came back with its data.
    expect((await lab.cephJson('df')).pools.find((p: any) => p.name === lab.info.ceph.pool).stats.objects).toBe(
      objectsBefore,
    );
  }, 180_000);

  it('a host key that changed since registration: the next contact fails with host_key_mismatch, nothing is left flagged', async () => {
    imported();
    const target = lab.node('node3');
    const newFingerprint = (await lab.ctl('rotate-hostkey', '3')).trim();
    expect(newFingerprint).toMatch(/^SHA256:/);
    expect(newFingerprint).not.toBe(target.ssh.fingerprint);
    const actionsBefore = lab.powerActions('node3').length;
    try {
      await timed('reboot with a changed host key', async () => {
        const r = await request('POST', `/v1/nodes/${nodeIds.node3}/reboot`, { method: 'hard' });
        expect(r.status).toBe(202);
        const op = await waitForOperation(r.body.data.operation_id);
        expect(op.status).toBe('failed');
        expect(op.error.code).toBe('host_key_mismatch');
        expect(op.error.message).toContain(newFingerprint);
        expect(op.error.message).toContain(target.ssh.fingerprint);
        // Stopped before the OSD host was touched: no power action, the OSD still runs.
        expect(op.steps.find((s: any) => s.name === 'stop_osds').status).toBe('failed');
      });
      expect(lab.powerActions('node3').slice(actionsBefore)).toEqual([]);
      expect((await lab.osdsUp())[target.osds[0]!]).toBe(true);
      expect(await lab.nooutState()).toMatchObject({ nooutHosts: [] });
      // The pin did not move.
      expect((await request('GET', `/v1/nodes/${nodeIds.node3}`)).body.data.ssh_host_key_fingerprint).toBe(
        target.ssh.fingerprint,
      );
    } finally {
      await lab.ctl('restore-hostkey', '3');
    }
  });

  it('a BMC killed mid-reboot: the power command is retried, then the operation fails and noout is unset', async () => {
    imported();
    const target = lab.node('node3');
    const osd = target.osds[0]!;
    const actionsBefore = lab.powerActions('node3').length;
    await timed('reboot with the BMC killed', async () => {
      const r = await request('POST', `/v1/nodes/${nodeIds.node3}/reboot`, { method: 'graceful', drain_osds: true });
      expect(r.status).toBe(202);
      const id = r.body.data.operation_id;
      // Mid-reboot: noout is set and the OSD is being stopped; the power is not cut yet.
      await waitForOperation(id, (o) => ['set_noout', 'stop_osds'].includes(o.current_step));
      await lab.ctl('bmc-stop', '3');
      try {
        // The forward path gives up after its retries; then compensation needs the BMC to power the
        // machine back on (it stays on here), so the BMC comes back, as a rebooted BMC does.
        const compensating = await waitForOperation(
          id,
          (o) => o.logs.some((l: any) => /compensating after failure/.test(l.message)) || o.status !== 'in_progress',
        );
        expect(compensating.logs.map((l: any) => l.message).join('\n')).toMatch(
          /compensating after failure \(bmc_unreachable\)/,
        );
        expect((await lab.nooutState()).nooutHosts).toEqual([target.hostname]);
      } finally {
        await lab.ctl('bmc-start', '3');
      }
      const op = await waitForOperation(id);
      expect(op.status).toBe('failed');
      expect(op.error.code).toBe('bmc_unreachable');
      const attempts = await activityAttempts(op.temporal.workflow_id);
      // Retried with backoff before giving up (hardwareCommand: 6 attempts).
      expect(Math.max(...attempts.powerCommand!)).toBeGreaterThan(1);
      expect(op.logs.map((l: any) => l.message).join('\n')).toMatch(/undone: unset noout/);
    });
    // The machine never lost power; compensation started the stopped OSD and unset noout.
    expect(lab.powerActions('node3').slice(actionsBefore)).toEqual([]);
    expect(await lab.nooutState()).toMatchObject({ nooutHosts: [] });
    expect(lab.readNodeFile('node3', 'systemctl.log')).toMatch(new RegExp(`start ceph-osd@${osd}\\b`));
    await lab.waitClean(60);
  }, 300_000);

  it('a node whose OSD never comes back: the reboot fails with a reason and nothing is left flagged', async () => {
    imported();
    const target = lab.node('node2');
    const osd = target.osds[0]!;
    const actionsBefore = lab.powerActions('node2').length;
    await lab.ctl('fault', '2', 'osd-broken', 'on');
    try {
      await timed('reboot with an OSD that never comes back', async () => {
        const r = await request('POST', `/v1/nodes/${nodeIds.node2}/reboot`, { method: 'hard', drain_osds: true });
        expect(r.status).toBe(202);
        const op = await waitForOperation(r.body.data.operation_id);
        expect(op.status).toBe('failed');
        expect(op.error.code).toBe('osds_not_up');
        expect(op.error.message).toMatch(new RegExp(`osd\\.${osd}`));
        expect(op.steps.find((s: any) => s.name === 'wait_osds_up').status).toBe('failed');
        expect(op.logs.map((l: any) => l.message).join('\n')).toMatch(/undone: unset noout/);
      });
      expect(lab.powerActions('node2').slice(actionsBefore)).toEqual(['off', 'on']);
      expect((await lab.osdsUp())[osd]).toBe(false);
      const flags = await lab.nooutState();
      expect(flags.nooutHosts).toEqual([]);
      expect(flags.flags).not.toContain('noout');
    } finally {
      await lab.ctl('fault', '2', 'osd-broken', 'off');
      await lab.ctl('osd', 'start', String(osd));
    }
    await lab.waitClean(90);
  }, 240_000);

  it('drains an OSD holding data to 0: its PG count falls to 0 and safe-to-destroy agrees; back to full weight', async () => {
    imported();
    const osd = lab.node('node3').osds[0]!;
    const crushWeight = async () =>
      (await lab.cephJson<{ nodes: { id: number; crush_weight: number; pgs: number }[] }>('osd', 'df')).nodes.find(
        (n) => n.id === osd,
      )!;
    const full = await crushWeight();
    expect(full.pgs).toBeGreaterThan(0);
    await timed('drain to 0', async () => {
      const r = await request('POST', `/v1/clusters/${clusterId}/osds/${osd}/reweight`, { weight: 0 });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      const op = await waitForOperation(r.body.data.operation_id);
      expect(op.status, JSON.stringify(op.error)).toBe('completed');
      expect(op.steps.map((x: any) => x.name)).toEqual([
        'preflight',
        'set_crush_weight',
        'wait_drain',
        'safe_to_destroy',
        'record_state',
      ]);
    });
    // Read straight from Ceph, with the stats flushed first (ceph-wait.py), not from NodeFoundry.
    await lab.waitClean(60);
    const drained = await crushWeight();
    expect(drained.crush_weight).toBe(0);
    expect(drained.pgs).toBe(0);
    expect((await lab.cephJson('osd', 'safe-to-destroy', String(osd))).safe_to_destroy).toEqual([osd]);

    await timed('reweight back to 1', async () => {
      const r = await request('POST', `/v1/clusters/${clusterId}/osds/${osd}/reweight`, { weight: 1 });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      const op = await waitForOperation(r.body.data.operation_id);
      expect(op.status, JSON.stringify(op.error)).toBe('completed');
    });
    await lab.waitClean(60);
    const back = await crushWeight();
    expect(back.crush_weight).toBeCloseTo(full.crush_weight, 4);
    expect(back.pgs).toBeGreaterThan(0);
  }, 240_000);

  it('a cancelled drain restores the original CRUSH weight', async () => {
    imported();
    const osd = lab.node('node2').osds[0]!;
    const weightOf = async () =>
      (await lab.cephJson<{ nodes: { id: number; crush_weight: number }[] }>('osd', 'df')).nodes.find(
        (n) => n.id === osd,
      )!.crush_weight;
    const original = await weightOf();
    await timed('cancelled drain', async () => {
      const r = await request('POST', `/v1/clusters/${clusterId}/osds/${osd}/reweight`, { weight: 0 });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      const id = r.body.data.operation_id;
      await waitForOperation(id, (o) => o.current_step === 'wait_drain' || o.status !== 'in_progress');
      expect(await weightOf()).toBe(0);
      expect((await request('POST', `/v1/operations/${id}/cancel`)).status).toBe(202);
      const op = await waitForOperation(id);
      expect(op.status).toBe('cancelled');
    });
    expect(await weightOf()).toBeCloseTo(original, 4);
    await lab.waitClean(90);
  }, 240_000);

  it('creates a replicated and an erasure pool that Ceph reads back; refuses one the failure domains cannot hold', async () => {
    imported();
    const pools = async () =>
      (await lab.cephJson<any[]>('osd', 'pool', 'ls', 'detail')).map((p) => p.pool_name as string);
    await timed('create 2 pools', async () => {
      for (const body of [
        { name: 'lab-rep3', type: 'replicated', replication_factor: 3, pg_autoscale: false },
        { name: 'lab-ec21', type: 'erasure', erasure_profile: 'k2m1', pg_autoscale: false },
      ]) {
        const r = await request('POST', `/v1/clusters/${clusterId}/pools`, body);
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        const op = await waitForOperation(r.body.data.operation_id);
        expect(op.status, JSON.stringify(op.error)).toBe('completed');
      }
    });
    expect(await pools()).toEqual(expect.arrayContaining(['lab-rep3', 'lab-ec21']));
    expect((await lab.cephJson('osd', 'pool', 'get', 'lab-rep3', 'size')).size).toBe(3);
    expect((await lab.cephJson('osd', 'pool', 'get', 'lab-ec21', 'all')).erasure_code_profile).toBeTruthy();
    // k+m = 4 > 3 hosts: refused before anything is created.
    const refused = await request('POST', `/v1/clusters/${clusterId}/pools`, {
      name: 'lab-ec22',
      type: 'erasure',
      erasure_profile: 'k2m2',
      pg_autoscale: false,
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('insufficient_failure_domains');
    expect(await pools()).not.toContain('lab-ec22');
    await lab.waitClean(90);
    // Leave the lab as it was.
    for (const name of ['lab-rep3', 'lab-ec21']) {
      const r = await api.request('DELETE', `/v1/clusters/${clusterId}/pools/${name}`, {
        key,
        headers: { 'x-confirm-delete': 'true' },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      expect((await waitForOperation(r.body.data.operation_id)).status).toBe('completed');
    }
    expect(await pools()).not.toContain('lab-rep3');
  }, 240_000);
});

describe('rolling restart of the lab cluster (real mons, mgrs and OSDs on the nodes)', () => {
  const daemonsOf = (n: { mon: string | null; mgr: string | null; osds: number[] }) => [
    ...(n.mgr ? [`mgr.${n.mgr}`] : []),
    ...(n.mon ? [`mon.${n.mon}`] : []),
    ...n.osds.map((o) => `osd.${o}`),
  ];
  const autoscaleModes = async () =>
    Object.fromEntries(
      (await lab.cephJson<any[]>('osd', 'pool', 'ls', 'detail')).map((p) => [
        p.pool_name as string,
        p.pg_autoscale_mode as string,
      ]),
    );
  const mgrMap = async () => {
    const m = await lab.cephJson<{ active_name: string; available: boolean; standbys: { name: string }[] }>(
      'mgr',
      'dump',
    );
    return { active: m.active_name, available: m.available, standbys: m.standbys.map((s) => s.name).sort() };
  };

  /**
   * From each node's daemons.log (bin/daemon-ctl.sh): when each daemon was down, from `stopping`
   * to the next `started` (still open: `end` Infinity).
   */
  function downWindows(since: Record<string, number>) {
    const out: { node: string; daemon: string; start: number; end: number }[] = [];
    for (const n of lab.info.nodes) {
      const open = new Map<string, number>();
      for (const e of lab.daemonEvents(n.name).slice(since[n.name])) {
        if (e.event === 'stopping') open.set(e.daemon, e.t);
        if (e.event === 'started' && open.has(e.daemon)) {
          out.push({ node: n.name, daemon: e.daemon, start: open.get(e.daemon)!, end: e.t });
          open.delete(e.daemon);
        }
      }
      for (const [daemon, start] of open) out.push({ node: n.name, daemon, start, end: Infinity });
    }
    return out.sort((a, b) => a.start - b.start);
  }

  it('restarts every daemon once, one host at a time: mgrs (standby, failover, old active) → mons → OSD hosts under noout; PGs clean', async () => {
    imported();
    // The nodes are hosts as Ceph sees them: every daemon reports its node's hostname.
    for (const type of ['mon', 'mgr', 'osd'] as const) {
      const meta = await lab.cephJson<any[]>(type, 'metadata');
      const hosts = Object.fromEntries(meta.map((m) => [`${type}.${type === 'osd' ? m.id : m.name}`, m.hostname]));
      const expected = Object.fromEntries(
        lab.info.nodes.flatMap((n) =>
          daemonsOf(n)
            .filter((d) => d.startsWith(`${type}.`))
            .map((d) => [d, n.hostname]),
        ),
      );
      expect(hosts).toEqual(expected);
    }
    expect(await mgrMap()).toEqual({ active: 'labnode1', available: true, standbys: ['labnode2'] });

    const all = lab.info.nodes.flatMap(daemonsOf);
    const pidsBefore = Object.fromEntries(all.map((d) => [d, lab.daemonPid(d)]));
    expect(Object.values(pidsBefore).every((p) => p !== null)).toBe(true);
    const modesBefore = await autoscaleModes();
    const sinceEvents = Object.fromEntries(lab.info.nodes.map((n) => [n.name, lab.daemonEvents(n.name).length]));
    const sinceCalls = Object.fromEntries(lab.info.nodes.map((n) => [n.name, lab.systemctlCalls(n.name).length]));
    const osdHost = Object.fromEntries(lab.info.nodes.flatMap((n) => n.osds.map((o) => [o, n.hostname])));

    // The dry run reads the live cluster over SSH (status, OSD tree, daemon metadata, mgr map,
    // pools) and plans from it; nothing is touched.
    await timed('rolling restart dry run', async () => {
      const dry = await request('POST', `/v1/clusters/${clusterId}/upgrade?dry_run=true`, {
        mode: 'restart',
        max_concurrent: 1,
      });
      expect(dry.status, JSON.stringify(dry.body)).toBe(200);
      expect(dry.body.data).toMatchObject({
        would_run: true,
        refusals: [],
        batches: lab.info.nodes.map((n) => [n.hostname]),
        facts: {
          mode: 'restart',
          running_version: '16.2.15',
          health: 'HEALTH_OK',
          mons_in_quorum: ['labnode1', 'labnode2', 'labnode3'],
          mgr_active: 'labnode1',
          mgr_standbys: ['labnode2'],
          hosts_total: 3,
        },
      });
    });
    expect(Object.fromEntries(all.map((d) => [d, lab.daemonPid(d)]))).toEqual(pidsBefore);
    expect(lab.info.nodes.map((n) => lab.systemctlCalls(n.name).length)).toEqual(
      lab.info.nodes.map((n) => sinceCalls[n.name]),
    );
    expect(await lab.nooutState()).toMatchObject({
      nooutHosts: [],
      flags: expect.not.arrayContaining(['noout', 'noautoscale']),
    });

    let op: any;
    const seen = {
      nooutHosts: new Set<string>(),
      maxNooutHosts: 0,
      maxDownHosts: 0,
      downWithoutNoout: [] as string[],
      samples: 0,
    };
    await timed('rolling restart (3 hosts)', async () => {
      const r = await request('POST', `/v1/clusters/${clusterId}/upgrade`, { mode: 'restart', max_concurrent: 1 });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      const id = r.body.data.operation_id;
      // Ceph's own view while it runs, one `ceph osd dump` at a time (flags and OSD states of one epoch).
      for (;;) {
        op = (await request('GET', `/v1/operations/${id}`)).body.data;
        const s = await lab.osdDumpState();
        seen.samples++;
        s.nooutHosts.forEach((h) => seen.nooutHosts.add(h));
        seen.maxNooutHosts = Math.max(seen.maxNooutHosts, s.nooutHosts.length);
        const down = Object.entries(s.up)
          .filter(([, up]) => !up)
          .map(([o]) => Number(o));
        seen.maxDownHosts = Math.max(seen.maxDownHosts, new Set(down.map((o) => osdHost[o])).size);
        for (const o of down)
          if (!s.nooutHosts.includes(osdHost[o]!))
            seen.downWithoutNoout.push(`osd.${o} (epoch sample ${seen.samples})`);
        if (['completed', 'failed', 'cancelled', 'paused'].includes(op.status)) break;
        // Each host is flagged for several seconds; sampling more often only slows the 2-core machine.
        await new Promise((res) => setTimeout(res, 750));
      }
    });
    if (op.status === 'paused') {
      // Leave the cluster free for the next test: a paused upgrade holds its locks until cancelled.
      await request('POST', `/v1/operations/${op.id}/cancel`);
      await waitForOperation(op.id);
    }
    expect(op.status, JSON.stringify({ error: op.error, logs: op.logs.slice(-12).map((l: any) => l.message) })).toBe(
      'completed',
    );
    expect(op.steps.map((s: any) => [s.name, s.status])).toEqual(
      [
        'preflight',
        'freeze_autoscale',
        'upgrade_mgrs',
        'upgrade_mons',
        'upgrade_osd_hosts',
        'restore_autoscale',
        'refresh_state',
      ].map((s) => [s, 'completed']),
    );
    expect(op.progress).toBe(100);
    expect(op.result).toMatchObject({ cluster_id: clusterId, mode: 'restart', hosts_total: 3, hosts_done: 3 });
    const stepSeconds = (x: any) => ((Date.parse(x.finished_at) - Date.parse(x.started_at)) / 1000).toFixed(1);
    timings.push(`  rolling restart steps: ${op.steps.map((x: any) => `${x.name} ${stepSeconds(x)} s`).join(', ')}`);
    // The plan NodeFoundry made from Ceph's daemon metadata: two mgrs (standby first), three mons, three OSD hosts one by one.
    const logs = op.logs.map((l: any) => l.message).join('\n');
    expect(logs).toContain(
      'rolling restart: mgr labnode2, labnode1, mon labnode1, labnode2, labnode3, 3 OSD host(s), 3 batch(es) of ≤ 1',
    );
    expect(logs).toMatch(/ceph mgr fail: mgr\.labnode2 is active/);

    // Exactly one restart of every daemon, each through systemctl on its own node.
    const calls = Object.fromEntries(
      lab.info.nodes.map((n) => [n.name, lab.systemctlCalls(n.name).slice(sinceCalls[n.name])]),
    );
    console.log(
      `systemctl calls of the rolling restart:\n${lab.info.nodes.map((n) => `  ${n.name}: ${calls[n.name]!.join(' | ')}`).join('\n')}`,
    );
    for (const n of lab.info.nodes) {
      expect(calls[n.name]).toEqual([
        ...(n.mgr ? [`restart ceph-mgr@${n.mgr}`] : []),
        ...(n.mon ? [`restart ceph-mon@${n.mon}`] : []),
        ...n.osds.flatMap((o) => [`stop ceph-osd@${o}`, `start ceph-osd@${o}`]),
      ]);
    }
    const pidsAfter = Object.fromEntries(all.map((d) => [d, lab.daemonPid(d)]));
    for (const d of all) {
      expect(pidsAfter[d], d).not.toBeNull();
      expect(pidsAfter[d], d).not.toBe(pidsBefore[d]);
    }

    // Order: the standby mgr, the old active one after the failover, the mons, then the OSD hosts.
    const windows = downWindows(sinceEvents);
    console.log(
      `daemons down during the rolling restart (daemons.log):\n${windows.map((w) => `  ${w.node} ${w.daemon} ${(w.end - w.start).toFixed(2)} s`).join('\n')}`,
    );
    expect(windows.map((w) => w.daemon)).toEqual([
      'mgr.labnode2',
      'mgr.labnode1',
      'mon.labnode1',
      'mon.labnode2',
      'mon.labnode3',
      'osd.0',
      'osd.1',
      'osd.2',
    ]);
    // Never two hosts' daemons down at once (here: never two daemons at all).
    for (let i = 1; i < windows.length; i++)
      expect(windows[i]!.start, `${windows[i]!.daemon} vs ${windows[i - 1]!.daemon}`).toBeGreaterThan(
        windows[i - 1]!.end,
      );
    // Ceph's view agrees: one host flagged and down at a time, an OSD down only under its host's noout.
    expect(seen.nooutHosts).toEqual(new Set(['labnode1', 'labnode2', 'labnode3']));
    expect(seen.maxNooutHosts).toBe(1);
    expect(seen.maxDownHosts).toBeLessThanOrEqual(1);
    expect(seen.downWithoutNoout).toEqual([]);

    // Nothing left behind: no noout, autoscale modes as before, every PG active+clean.
    expect(await lab.nooutState()).toEqual({ nooutHosts: [], flags: expect.not.arrayContaining(['noout']) });
    expect(await autoscaleModes()).toEqual(modesBefore);
    expect(await mgrMap()).toEqual({ active: 'labnode2', available: true, standbys: ['labnode1'] });
    await lab.waitClean(90);
  }, 420_000);

  it('an OSD that will not restart: the upgrade pauses naming it, nothing is left flagged; cancel restores the rest', async () => {
    imported();
    const target = lab.node('node1');
    const osd = target.osds[0]!;
    const modesBefore = await autoscaleModes();
    await lab.ctl('fault', '1', 'osd-broken', 'on');
    try {
      await timed('rolling restart paused by a broken OSD, then cancelled', async () => {
        const r = await request('POST', `/v1/clusters/${clusterId}/upgrade`, { mode: 'restart', max_concurrent: 1 });
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        const id = r.body.data.operation_id;
        const paused = await waitForOperation(id, (o) => o.status !== 'in_progress' && o.status !== 'pending', 300_000);
        console.log(
          `the upgrade stopped with: ${paused.status} ${paused.current_step} ${JSON.stringify(paused.error)}\n${paused.logs
            .slice(-12)
            .map((l: any) => l.message)
            .join('\n')}`,
        );
        expect(paused.status, JSON.stringify(paused.error)).toBe('paused');
        expect(paused.current_step).toBe('upgrade_osd_hosts');
        expect(paused.error.code).toBe('command_failed');
        expect(paused.error.message).toContain('labnode1');
        expect(paused.error.message).toContain(`ceph-osd@${osd}`);
        // The host put itself back as far as it could: noout unset; its OSD is down (it cannot start).
        expect(await lab.nooutState()).toMatchObject({ nooutHosts: [] });
        expect((await lab.osdsUp())[osd]).toBe(false);
        expect(paused.result).toBeNull();

        expect((await request('POST', `/v1/operations/${id}/cancel`)).status).toBe(202);
        const op = await waitForOperation(id);
        expect(op.status).toBe('cancelled');
      });
      const flags = await lab.nooutState();
      expect(flags.nooutHosts).toEqual([]);
      expect(flags.flags).not.toContain('noout');
      expect(await autoscaleModes()).toEqual(modesBefore);
      // Only node1's OSD was touched among the OSD hosts: the others were never stopped.
      expect(lab.systemctlCalls('node2').at(-1)).toBe('restart ceph-mon@labnode2');
    } finally {
      await lab.ctl('fault', '1', 'osd-broken', 'off');
      await lab.ctl('osd', 'start', String(osd));
    }
    await lab.waitClean(90);
  }, 420_000);
});
