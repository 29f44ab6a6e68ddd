import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { json } from '../../db/database';
import { createDriverRegistry } from '../../drivers';
import {
  createSandboxDriverSet,
  failSandboxOsdDrive,
  getSandboxCephState,
  listDeviceEvents,
} from '../../drivers/sandbox';
import type { CephDriver } from '../../drivers/types';
import { newId } from '../../lib/ids';
import { createLogger } from '../../lib/logger';
import type { RunningWorker } from '../../worker/main';
import { recordHistory } from '../helpers/history';
import { startTestApi, type TestApi } from '../helpers/api';
import {
  sandboxCluster,
  sandboxNode,
  TERMINAL,
  waitForOperation,
  type SandboxNodeFixture,
} from '../helpers/sandbox-cluster';
import { startTestWorker } from '../helpers/worker';
import { settleOperationsWorkflow } from '../../workflows/settle-operations.workflow';

/**
 * Disk replacement (osd.replace, issue 13 #2) end to end: HTTP API → Temporal → worker with the
 * sandbox drivers → PostgreSQL, on clusters built as fixtures like test/workflows/reweight.test.ts
 * (a failed drive is modelled by failSandboxOsdDrive; each sandbox host has spare drives).
 */
let api: TestApi;
let worker: RunningWorker;
let activities: ReturnType<typeof createActivities>;

beforeAll(async () => {
  api = await startTestApi();
  worker = await startTestWorker(api.config, api.db);
  activities = createActivities({
    db: api.db,
    config: api.config,
    logger: createLogger('silent'),
    drivers: createDriverRegistry({ db: api.db, config: api.config }),
  });
});

afterAll(async () => {
  await worker?.shutdown();
  await api?.close();
});

/** Polls the operation through the API; collects every progress value seen. */
const waitFor = (id: string, until?: (op: any) => boolean, seen: number[] = []) =>
  waitForOperation(api, id, { ...(until ? { until } : {}), timeoutMs: 60_000, seen });

let n = 0;

/**
 * A sandbox cluster of `hosts` nodes with `osdsPerHost` OSDs each, size 3 / min_size 2, whose Ceph
 * backfills at `speed` (0 = instant), its OSDs recorded in the osds table as a refresh leaves them.
 */
async function cluster(opts: { hosts: number; osdsPerHost: number; speed: number }) {
  const { db } = api;
  const accountId = api.account.accountId;
  const tag = `${process.pid % 200}.${++n}`;
  const suffix = newId('cluster').slice(-5).toLowerCase();
  const nodes: (SandboxNodeFixture & { devices: string[]; spare: { device: string; size_gb: number } })[] = [];
  for (let i = 0; i < opts.hosts; i++) {
    const node = await sandboxNode(api, {
      hostname: `rp-${n}-${i}-${suffix}`,
      ip: `10.${tag}.${i + 1}`,
      ipmi: `11.${tag}.${i + 1}`,
      i,
      status: 'online',
    });
    nodes.push({
      ...node,
      devices: node.drives.slice(0, opts.osdsPerHost).map((d) => d.device),
      spare: node.drives[opts.osdsPerHost]!,
    });
  }
  const clusterId = await sandboxCluster(api, {
    name: `rp-${n}`,
    members: nodes,
    osdsPerHost: opts.osdsPerHost,
    speed: opts.speed,
  });
  await activities.refreshClusterState({ clusterId });
  const ceph: CephDriver = createSandboxDriverSet(db, accountId).ceph({
    clusterId,
    admin: { host: nodes[0]!.ip, port: 22, username: 'nodefoundry', privateKey: '', pinnedFingerprint: null },
  });
  const osdOf = async (osdId: number) => (await getSandboxCephState(db, clusterId))!.osds.find((o) => o.id === osdId)!;
  const weightOf = async (osdId: number) => (await osdOf(osdId)).crush_weight;
  return { clusterId, nodes, ceph, weightOf, osdOf };
}

const replace = (clusterId: string, osdId: number, body: unknown, query = '') =>
  api.request('POST', `/v1/clusters/${clusterId}/osds/${osdId}/replace${query}`, { body });

/** The disk is pulled from the host (or dies so hard the kernel drops it): the machine no longer lists it. */
async function pullDrive(hostname: string, device: string) {
  const m = await api.db
    .selectFrom('sandbox_machines')
    .selectAll()
    .where('account_id', '=', api.account.accountId)
    .where('hostname', '=', hostname)
    .executeTakeFirstOrThrow();
  const drive = m.drives.find((d) => d.device === device)!;
  await api.db
    .updateTable('sandbox_machines')
    .set({ drives: json(m.drives.filter((d) => d.device !== device)) })
    .where('id', '=', m.id)
    .execute();
  // Pushed back in.
  return async () => {
    const now = await api.db
      .selectFrom('sandbox_machines')
      .select('drives')
      .where('id', '=', m.id)
      .executeTakeFirstOrThrow();
    await api.db
      .updateTable('sandbox_machines')
      .set({ drives: json([...now.drives, drive]) })
      .where('id', '=', m.id)
      .execute();
  };
}

/** The host's disk is of another size (the new disk bought bigger). */
async function resizeDrive(hostname: string, device: string, size_gb: number) {
  const m = await api.db
    .selectFrom('sandbox_machines')
    .selectAll()
    .where('account_id', '=', api.account.accountId)
    .where('hostname', '=', hostname)
    .executeTakeFirstOrThrow();
  await api.db
    .updateTable('sandbox_machines')
    .set({ drives: json(m.drives.map((d) => (d.device === device ? { ...d, size_gb } : d))) })
    .where('id', '=', m.id)
    .execute();
}

/** The machine's power goes off (someone pulled its cords); `on` brings it back. */
async function setPower(hostname: string, state: 'on' | 'off') {
  await api.db
    .updateTable('sandbox_machines')
    .set({ power_state: state, power_changed_at: new Date(), pending_power: null, pending_power_at: null })
    .where('account_id', '=', api.account.accountId)
    .where('hostname', '=', hostname)
    .execute();
}

const locksOf = (id: string) =>
  api.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', id).execute();

const tib = (gb: number) => Math.round(((gb * 1e9) / 2 ** 40) * 1e5) / 1e5;

describe('OSD disk replacement', () => {
  it('a failed drive: 409 not_safe_to_destroy while its PGs have no copy elsewhere (nothing changed); once Ceph calls it safe, replaced in the same slot with the same id, up, weight kept, PGs clean', async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 2, speed: 0 });
    const host = c.nodes[1]!;
    const original = await c.weightOf(2);
    // noout on the host keeps the dead OSD in: its PGs are still mapped to it, degraded.
    await c.ceph.setGroupNoout(host.hostname);
    await failSandboxOsdDrive(api.db, c.clusterId, 2);
    const refused = await replace(c.clusterId, 2, { device: 'same_slot' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('not_safe_to_destroy');
    expect(refused.body.error.message).toContain('osd.2 is down and Ceph does not call it safe to destroy');
    expect(JSON.stringify(refused.body)).not.toMatch(/stack|select |ApplicationFailure/i);
    expect((await c.osdOf(2)).destroyed).toBeUndefined();
    expect(await c.weightOf(2)).toBe(original);
    expect(
      (
        await api.db
          .selectFrom('operations')
          .select('id')
          .where('osd_id', '=', 2)
          .where('cluster_id', '=', c.clusterId)
          .execute()
      ).length,
    ).toBe(0);

    // noout gone: the OSD is marked out, recovery puts its PGs elsewhere, Ceph calls it safe.
    await c.ceph.unsetGroupNoout(host.hostname);
    await until(async () => (await c.ceph.safeToDestroy([2])).safe.includes(2));
    const r = await replace(c.clusterId, 2, { device: 'same_slot' });
    expect(r.status).toBe(202);
    expect(r.body.data).toMatchObject({ cluster_id: c.clusterId, osd_id: 2, device: null, status: 'pending' });
    const op = await waitFor(r.body.data.operation_id);
    expect(op.status).toBe('completed');
    expect(op.type).toBe('osd.replace');
    expect(op.steps.map((s: any) => [s.name, s.status])).toEqual([
      ['preflight', 'completed'],
      ['drain', 'skipped'],
      ['safe_to_destroy', 'skipped'],
      ['destroy', 'completed'],
      ['recreate', 'completed'],
      ['restore_weight', 'completed'],
      ['wait_backfill', 'completed'],
      ['refresh_inventory', 'completed'],
    ]);
    expect(op.result).toMatchObject({ osd_id: 2, host: host.hostname, device: host.devices[0], mode: 'failed' });
    const osd = await c.osdOf(2);
    expect(osd).toMatchObject({
      id: 2,
      host: host.hostname,
      device: host.devices[0],
      destroyed: false,
      failed_at: null,
    });
    expect(osd.crush_weight).toBe(original);
    const listed = (await api.request('GET', `/v1/clusters/${c.clusterId}/osds`)).body.data.find(
      (o: any) => o.osd_id === 2,
    );
    expect(listed).toMatchObject({ status: 'up', in: true, weight: 1, device: host.devices[0] });
    expect(listed.pgs).toBeGreaterThan(0);
    const s = await c.ceph.status();
    expect([s.osds_up, s.pgs_active_clean]).toEqual([8, s.pgs_total]);
    // The slot's device was zapped (the new disk), no other.
    const zaps = (await listDeviceEvents(api.db, api.account.accountId, host.hostname)).filter(
      (e) => e.action === 'zap',
    );
    expect(zaps.map((e) => e.device)).toEqual([host.devices[0]]);
    expect(await api.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', op.id).execute()).toEqual(
      [],
    );
    await recordHistory(api.client, op.temporal.workflow_id, 'replaceOsdWorkflow--failed-same-slot');
  });

  it('an up OSD holding data onto a spare disk: dry run plans a drain; drained, destroyed, recreated with the same id on the new disk at its full weight; drives re-read', async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 2, speed: 0 });
    const host = c.nodes[2]!;
    const spare = host.spare.device;
    expect((await c.ceph.pgPlacement([5])).osds[0]!.pgs).toBeGreaterThan(0);
    const dry = await replace(c.clusterId, 5, { device: `/dev/${spare}` }, '?dry_run=true');
    expect(dry.status).toBe(200);
    expect(dry.body.data).toMatchObject({ type: 'osd.replace', would_run: true, refusals: [] });
    expect(dry.body.data.facts).toMatchObject({
      mode: 'drain',
      new_device: spare,
      same_slot: false,
      host: host.hostname,
    });
    expect(await c.osdOf(5)).toMatchObject({ device: host.devices[1] });

    const r = await replace(c.clusterId, 5, { device: `/dev/${spare}` });
    expect(r.status).toBe(202);
    const op = await waitFor(r.body.data.operation_id);
    expect(op.status).toBe('completed');
    expect(op.steps.map((s: any) => s.status)).toEqual(Array(8).fill('completed'));
    const osd = await c.osdOf(5);
    expect(osd).toMatchObject({ id: 5, host: host.hostname, device: spare, destroyed: false });
    expect(osd.crush_weight).toBeCloseTo(tib(host.spare.size_gb), 4);
    expect(op.result).toMatchObject({ osd_id: 5, device: spare, mode: 'drain' });
    const s = await c.ceph.status();
    expect([s.osds_up, s.pgs_active_clean]).toEqual([8, s.pgs_total]);
    expect((await c.ceph.pgPlacement([5])).osds[0]!.pgs).toBeGreaterThan(0);
    const listed = (await api.request('GET', `/v1/clusters/${c.clusterId}/osds`)).body.data.find(
      (o: any) => o.osd_id === 5,
    );
    expect(listed).toMatchObject({ device: spare, status: 'up', weight: 1 });
    const node = (await api.request('GET', `/v1/nodes/${host.id}`)).body.data;
    expect(node.drives.map((d: any) => d.device)).toContain(spare);
    expect(node.drives.find((d: any) => d.device === spare)).toHaveProperty('smart_ok');
    expect(op.logs.map((l: any) => l.message).join('\n')).toContain(`drives of ${host.hostname} re-read`);
    await recordHistory(api.client, op.temporal.workflow_id, 'replaceOsdWorkflow--drain-new-device');
  });

  it('refuses a device that is not on the host or holds another OSD (409 device_not_available, nothing changed)', async () => {
    const c = await cluster({ hosts: 3, osdsPerHost: 2, speed: 0 });
    const host = c.nodes[0]!;
    const missing = await replace(c.clusterId, 0, { device: 'sdzz' });
    expect(missing.status).toBe(409);
    expect(missing.body.error.code).toBe('device_not_available');
    const taken = await replace(c.clusterId, 0, { device: host.devices[1] });
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('device_not_available');
    expect((await replace(c.clusterId, 0, { device: '/dev/../etc' })).status).toBe(400);
    expect((await replace(c.clusterId, 99, { device: 'same_slot' })).body.error.code).toBe('osd_not_found');
    expect(await c.osdOf(0)).toMatchObject({ device: host.devices[0] });
    expect(
      (await listDeviceEvents(api.db, api.account.accountId, host.hostname)).filter((e) => e.action === 'zap'),
    ).toEqual([]);
  });

  it('cancel mid-drain restores the original weight; the OSD is not destroyed', async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 2, speed: 3 });
    const original = await c.weightOf(1);
    const r = await replace(c.clusterId, 1, { device: 'same_slot' });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    await waitFor(id, (op) => op.current_step === 'drain' && op.status === 'in_progress');
    await until(async () => (await c.weightOf(1)) === 0);
    expect((await api.request('POST', `/v1/operations/${id}/cancel`)).status).toBe(202);
    const op = await waitFor(id);
    expect(op.status).toBe('cancelled');
    expect(op.logs.map((l: any) => l.message).join('\n')).toContain(
      `undone: restore osd.1 CRUSH weight to ${original} TiB (the recorded original)`,
    );
    expect(await c.weightOf(1)).toBe(original);
    expect((await c.osdOf(1)).destroyed).toBeUndefined();
    expect(op.steps.find((s: any) => s.name === 'destroy').status).not.toBe('completed');
    expect(await api.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', id).execute()).toEqual([]);
    await recordHistory(api.client, op.temporal.workflow_id, 'replaceOsdWorkflow--drain-cancelled');
  });

  it('the new disk vanishes after the destroy: failed saying osd.N is left destroyed (id kept) and how to finish, weight restored, locks released; the same request with a working disk then recreates it without a drain, same id, up, weight restored, PGs clean', async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 2, speed: 3 });
    const host = c.nodes[2]!;
    const spare = host.spare.device;
    const original = await c.weightOf(5);
    const r = await replace(c.clusterId, 5, { device: spare });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    await waitFor(id, (op) => TERMINAL.includes(op.status) || op.current_step === 'drain');
    const pushBack = await pullDrive(host.hostname, spare);
    const op = await waitFor(id);
    expect(op.status).toBe('failed');
    expect(op.steps.map((s: any) => [s.name, s.status])).toEqual([
      ['preflight', 'completed'],
      ['drain', 'completed'],
      ['safe_to_destroy', 'completed'],
      ['destroy', 'completed'],
      ['recreate', 'failed'],
      ['restore_weight', 'skipped'],
      ['wait_backfill', 'skipped'],
      ['refresh_inventory', 'skipped'],
    ]);
    expect(op.error.message).toContain(`/dev/${spare} not found`);
    expect(op.error.message).toContain('osd.5 is left destroyed (id and CRUSH position kept');
    expect(op.error.message).toContain(`POST /v1/clusters/${c.clusterId}/osds/5/replace again`);
    expect(JSON.stringify(op.error)).not.toMatch(/stack|select |ApplicationFailure/i);
    expect(op.logs.map((l: any) => l.message).join('\n')).toContain(
      `undone: restore osd.5 CRUSH weight to ${original} TiB (the recorded original)`,
    );
    expect(await c.osdOf(5)).toMatchObject({ destroyed: true, crush_weight: original });
    expect((await getSandboxCephState(api.db, c.clusterId))!.noout_hosts).toEqual([]);
    expect(await locksOf(id)).toEqual([]);
    const listed = (await api.request('GET', `/v1/clusters/${c.clusterId}/osds`)).body.data.find(
      (o: any) => o.osd_id === 5,
    );
    expect(listed).toMatchObject({ status: 'down' });
    await recordHistory(api.client, op.temporal.workflow_id, 'replaceOsdWorkflow--recreate-failed');

    // The disk is pushed back in (or another one put in): the same request again finishes the job.
    await pushBack();
    const dry = await replace(c.clusterId, 5, { device: spare }, '?dry_run=true');
    expect(dry.status).toBe(200);
    expect(dry.body.data).toMatchObject({ would_run: true, refusals: [] });
    expect(dry.body.data.facts).toMatchObject({ mode: 'failed', new_device: spare });
    const again = await replace(c.clusterId, 5, { device: spare });
    expect(again.status).toBe(202);
    const op2 = await waitFor(again.body.data.operation_id);
    expect(op2.status).toBe('completed');
    expect(op2.steps.map((s: any) => [s.name, s.status])).toEqual([
      ['preflight', 'completed'],
      ['drain', 'skipped'],
      ['safe_to_destroy', 'skipped'],
      ['destroy', 'completed'],
      ['recreate', 'completed'],
      ['restore_weight', 'completed'],
      ['wait_backfill', 'completed'],
      ['refresh_inventory', 'completed'],
    ]);
    const osd = await c.osdOf(5);
    expect(osd).toMatchObject({ id: 5, host: host.hostname, device: spare, destroyed: false });
    expect(osd.crush_weight).toBeCloseTo(tib(host.spare.size_gb), 4);
    const s = await c.ceph.status();
    expect([s.osds_up, s.pgs_active_clean]).toEqual([8, s.pgs_total]);
    expect(await locksOf(op2.id)).toEqual([]);
    await recordHistory(api.client, op2.temporal.workflow_id, 'replaceOsdWorkflow--destroyed-rerun');
  });

  it('cancel during recreate (its host unreachable): cancelled saying osd.N is left destroyed and how to finish, locks released; rerun once the host is back', async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 2, speed: 0 });
    const host = c.nodes[1]!;
    const original = await c.weightOf(2);
    await failSandboxOsdDrive(api.db, c.clusterId, 2);
    await until(async () => (await c.ceph.safeToDestroy([2])).safe.includes(2));
    await setPower(host.hostname, 'off');
    const r = await replace(c.clusterId, 2, { device: 'same_slot' });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    await waitFor(id, (op) => TERMINAL.includes(op.status) || op.current_step === 'recreate');
    expect((await api.request('POST', `/v1/operations/${id}/cancel`)).status).toBe(202);
    const op = await waitFor(id);
    expect(op.status).toBe('cancelled');
    expect(op.steps.find((s: any) => s.name === 'destroy').status).toBe('completed');
    expect(op.error.message).toContain('osd.2 is left destroyed (id and CRUSH position kept');
    expect(op.error.message).toContain(`POST /v1/clusters/${c.clusterId}/osds/2/replace again`);
    expect(await c.osdOf(2)).toMatchObject({ destroyed: true, crush_weight: original });
    expect((await getSandboxCephState(api.db, c.clusterId))!.noout_hosts).toEqual([]);
    expect(await locksOf(id)).toEqual([]);
    await recordHistory(api.client, op.temporal.workflow_id, 'replaceOsdWorkflow--recreate-cancelled');

    await setPower(host.hostname, 'on');
    const again = await replace(c.clusterId, 2, { device: 'same_slot' });
    expect(again.status).toBe(202);
    const op2 = await waitFor(again.body.data.operation_id);
    expect(op2.status).toBe('completed');
    expect(await c.osdOf(2)).toMatchObject({ destroyed: false, device: host.devices[0], crush_weight: original });
    const s = await c.ceph.status();
    expect([s.osds_up, s.pgs_active_clean]).toEqual([8, s.pgs_total]);
  });

  it("cancel during wait_backfill: the OSD stays recreated on the new disk at its new weight (not the old disk's), and the operation says so and that backfill goes on by itself", async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 2, speed: 3 });
    const host = c.nodes[3]!;
    const spare = host.spare.device;
    const original = await c.weightOf(7);
    // The new disk is twice the size of the old one.
    const size = Math.round((original * 2 ** 40 * 2) / 1e9);
    await resizeDrive(host.hostname, spare, size);
    const target = tib(size);
    expect(Math.abs(target - original)).toBeGreaterThan(1e-3);
    const r = await replace(c.clusterId, 7, { device: spare });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    const mid = await waitFor(id, (op) => TERMINAL.includes(op.status) || op.current_step === 'wait_backfill');
    expect(mid.status).toBe('in_progress');
    expect((await api.request('POST', `/v1/operations/${id}/cancel`)).status).toBe(202);
    const op = await waitFor(id);
    expect(op.status).toBe('cancelled');
    const osd = await c.osdOf(7);
    expect(osd).toMatchObject({ destroyed: false, device: spare });
    expect(osd.crush_weight).toBeCloseTo(target, 4);
    expect(op.error.message).toContain(`osd.7 was recreated on ${host.hostname}:/dev/${spare}`);
    expect(op.error.message).toContain('backfill onto it goes on by itself');
    expect(op.error.message).not.toContain('its changes were undone');
    expect(await locksOf(id)).toEqual([]);
    await recordHistory(api.client, op.temporal.workflow_id, 'replaceOsdWorkflow--backfill-cancelled');
  });

  it('terminated from the Web UI after the destroy: the settler ends it saying osd.N is left destroyed and the command that finishes it, locks released', async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 2, speed: 0 });
    const host = c.nodes[1]!;
    const original = await c.weightOf(3);
    await failSandboxOsdDrive(api.db, c.clusterId, 3);
    await until(async () => (await c.ceph.safeToDestroy([3])).safe.includes(3));
    await setPower(host.hostname, 'off');
    const r = await replace(c.clusterId, 3, { device: 'same_slot' });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    const running = await waitFor(id, (op) => TERMINAL.includes(op.status) || op.current_step === 'recreate');
    expect(running.status).toBe('in_progress');
    await api.client.workflow.getHandle(running.temporal.workflow_id).terminate('terminated from the Web UI');

    const result = await api.client.workflow.execute(settleOperationsWorkflow, {
      taskQueue: api.config.temporal.taskQueue,
      workflowId: `replace-settle-test/${api.account.accountId}/${id}`,
      args: [{ accountId: api.account.accountId }],
    });
    expect(result.settled).toContain(id);
    const op = (await api.request('GET', `/v1/operations/${id}`)).body.data;
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('workflow_closed');
    expect(op.error.message).toContain('Left for an operator: osd.3 is left destroyed (id and CRUSH position kept');
    expect(op.error.message).toContain(`POST /v1/clusters/${c.clusterId}/osds/3/replace again`);
    expect(op.logs.map((l: any) => l.message).join('\n')).toContain(
      'settler: left for an operator: osd.3 is left destroyed',
    );
    expect(await c.osdOf(3)).toMatchObject({ destroyed: true, crush_weight: original });
    expect((await getSandboxCephState(api.db, c.clusterId))!.noout_hosts).toEqual([]);
    expect(await locksOf(id)).toEqual([]);

    await setPower(host.hostname, 'on');
    const again = await replace(c.clusterId, 3, { device: 'same_slot' });
    expect(again.status).toBe(202);
    expect((await waitFor(again.body.data.operation_id)).status).toBe('completed');
    expect(await c.osdOf(3)).toMatchObject({ destroyed: false, crush_weight: original });
  });

  it("terminated from the Web UI during wait_backfill onto a bigger disk: the settler keeps the new disk's weight (the drain's original was the old disk's) and leaves nothing destroyed", async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 2, speed: 3 });
    const host = c.nodes[0]!;
    const spare = host.spare.device;
    const original = await c.weightOf(1);
    const size = Math.round((original * 2 ** 40 * 2) / 1e9);
    await resizeDrive(host.hostname, spare, size);
    const r = await replace(c.clusterId, 1, { device: spare });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    const running = await waitFor(id, (op) => TERMINAL.includes(op.status) || op.current_step === 'wait_backfill');
    expect(running.status).toBe('in_progress');
    await api.client.workflow.getHandle(running.temporal.workflow_id).terminate('terminated from the Web UI');
    const result = await api.client.workflow.execute(settleOperationsWorkflow, {
      taskQueue: api.config.temporal.taskQueue,
      workflowId: `replace-settle-test/${api.account.accountId}/${id}`,
      args: [{ accountId: api.account.accountId }],
    });
    expect(result.settled).toContain(id);
    const op = (await api.request('GET', `/v1/operations/${id}`)).body.data;
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('workflow_closed');
    expect(op.error.message).not.toContain('left destroyed');
    expect(op.error.message).toContain('osd.1 was recreated on its new disk; the CRUSH weight set for that disk stays');
    const osd = await c.osdOf(1);
    expect(osd).toMatchObject({ destroyed: false, device: spare });
    expect(osd.crush_weight).toBeCloseTo(tib(size), 4);
    expect(await locksOf(id)).toEqual([]);
  });

  it('terminated from the Web UI after a drain and the destroy (host lost before the recreate): the settler restores the drained weight from the ledger and says osd.N is left destroyed', async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 2, speed: 3 });
    const host = c.nodes[2]!;
    const original = await c.weightOf(4);
    const r = await replace(c.clusterId, 4, { device: 'same_slot' });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    await waitFor(id, (op) => TERMINAL.includes(op.status) || op.current_step === 'drain');
    await until(async () => (await c.weightOf(4)) === 0);
    // The host is lost mid-drain: the drained OSD is destroyed, its recreate cannot reach the host.
    await setPower(host.hostname, 'off');
    const running = await waitFor(id, (op) => TERMINAL.includes(op.status) || op.current_step === 'recreate');
    expect(running.status).toBe('in_progress');
    expect(await c.osdOf(4)).toMatchObject({ destroyed: true, crush_weight: 0 });
    await api.client.workflow.getHandle(running.temporal.workflow_id).terminate('terminated from the Web UI');
    const result = await api.client.workflow.execute(settleOperationsWorkflow, {
      taskQueue: api.config.temporal.taskQueue,
      workflowId: `replace-settle-test/${api.account.accountId}/${id}`,
      args: [{ accountId: api.account.accountId }],
    });
    expect(result.settled).toContain(id);
    const op = (await api.request('GET', `/v1/operations/${id}`)).body.data;
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('workflow_closed');
    expect(op.error.message).toContain(`Repaired: restored the CRUSH weight of osd.4 to ${original}`);
    expect(op.error.message).toContain('Left for an operator: osd.4 is left destroyed (id and CRUSH position kept');
    expect(op.error.message).toContain(`POST /v1/clusters/${c.clusterId}/osds/4/replace again`);
    expect(await c.osdOf(4)).toMatchObject({ destroyed: true, crush_weight: original });
    expect((await getSandboxCephState(api.db, c.clusterId))!.noout_hosts).toEqual([]);
    expect(await locksOf(id)).toEqual([]);
  });

  it('a destroyed OSD left at CRUSH weight 0 (its weight could not be restored) comes back at the weight NodeFoundry recorded for it, not empty', async () => {
    const c = await cluster({ hosts: 4, osdsPerHost: 2, speed: 0 });
    const host = c.nodes[3]!;
    const original = await c.weightOf(6);
    await failSandboxOsdDrive(api.db, c.clusterId, 6);
    await until(async () => (await c.ceph.safeToDestroy([6])).safe.includes(6));
    // What a replacement whose restore of the drained weight failed leaves: destroyed, at weight 0.
    await c.ceph.destroyOsd(host.hostname, 6);
    await c.ceph.crushReweight(6, 0);
    await activities.refreshClusterState({ clusterId: c.clusterId });
    const dry = await replace(c.clusterId, 6, { device: 'same_slot' }, '?dry_run=true');
    expect(dry.status).toBe(200);
    expect(dry.body.data.facts).toMatchObject({ mode: 'failed', original_crush_weight: 0, original_weight: 1 });
    const r = await replace(c.clusterId, 6, { device: 'same_slot' });
    expect(r.status).toBe(202);
    const op = await waitFor(r.body.data.operation_id);
    expect(op.status).toBe('completed');
    expect(op.logs.map((l: any) => l.message).join('\n')).toContain(
      `osd.6 is at CRUSH weight 0; the new OSD gets the fraction of the ${original} TiB NodeFoundry last recorded for it`,
    );
    expect(await c.osdOf(6)).toMatchObject({ destroyed: false, device: host.devices[0], crush_weight: original });
    expect((await c.ceph.pgPlacement([6])).osds[0]!.pgs).toBeGreaterThan(0);
    const s = await c.ceph.status();
    expect([s.osds_up, s.pgs_active_clean]).toEqual([8, s.pgs_total]);
    await recordHistory(api.client, op.temporal.workflow_id, 'replaceOsdWorkflow--destroyed-at-zero-weight');
  });
});

/** Waits (bounded) until `ok` holds. */
async function until(ok: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((res) => setTimeout(res, 40));
  }
}
