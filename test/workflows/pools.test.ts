import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getSandboxCephState } from '../../drivers/sandbox';
import { powerOff, powerOn, startHarness, type Harness } from './cluster-harness';

/** Pools through the HTTP API with a sandbox key and a real worker, on a cluster made by the API. */
let h: Harness;
let clusterId: string;
let members: any[];

beforeAll(async () => {
  h = await startHarness({ NF_WAIT_CEPH_MS: '4000' });
  const ns = [];
  for (let i = 0; i < 3; i++) ns.push(await h.registerNode());
  members = ns;
  const c = await h.api('POST', '/v1/clusters', { name: 'pools', node_ids: ns.map((n) => n.id), ceph_version: 'reef' });
  expect((await h.waitForOperation(c.body.data.operation_id)).status).toBe('completed');
  clusterId = c.body.data.id;
});
afterAll(async () => {
  await h?.close();
});

const cephPool = async (name: string) =>
  (await getSandboxCephState(h.db, clusterId))!.pools?.find((p) => p.name === name);

describe('pools', () => {
  it('creates a replicated pool: size/min_size, application, autoscale set in Ceph and read back; row active', async () => {
    const before = (await getSandboxCephState(h.db, clusterId))!.pg_num;
    const r = await h.api('POST', `/v1/clusters/${clusterId}/pools`, {
      name: 'rbd-data',
      type: 'replicated',
      application: 'rbd',
    });
    expect(r.status).toBe(202);
    expect(r.body.data).toMatchObject({
      name: 'rbd-data',
      type: 'replicated',
      replication_factor: 3,
      size: 3,
      min_size: 2,
      status: 'creating',
      pg_autoscale: true,
    });
    expect(r.body.data.id).toMatch(/^pool_/);
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('completed');
    expect(op.type).toBe('pool.create');
    expect(op.steps.find((s: any) => s.name === 'create_profile').status).toBe('skipped');

    const list = await h.api('GET', `/v1/clusters/${clusterId}/pools`);
    expect(list.status).toBe(200);
    expect(list.body.data.find((p: any) => p.name === 'rbd-data')).toMatchObject({
      status: 'active',
      size: 3,
      min_size: 2,
      application: 'rbd',
      pg_num: 32,
      erasure_profile: null,
    });
    const p = (await cephPool('rbd-data'))!;
    expect(p).toMatchObject({
      type: 'replicated',
      size: 3,
      min_size: 2,
      applications: ['rbd'],
      pg_autoscale_mode: 'on',
      pg_num: 32,
    });
    const state = (await getSandboxCephState(h.db, clusterId))!;
    expect(state.crush_rules!.find((x) => x.id === p.crush_rule_id)!.name).toBe('nf-replicated-host');
    // The pool's PGs count in the cluster's total.
    expect(state.pg_num).toBe(before + 32);
    await h.recordHistory(op.temporal.workflow_id, 'createPoolWorkflow--replicated-completed');
  });

  it('creates an erasure pool k2m1 (size k+m, min_size k) with pg_autoscale off', async () => {
    const r = await h.api('POST', `/v1/clusters/${clusterId}/pools`, {
      name: 'objects',
      type: 'erasure',
      erasure_profile: 'k2m1',
      application: 'rgw',
      pg_autoscale: false,
    });
    expect(r.status).toBe(202);
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('completed');
    expect(op.steps.find((s: any) => s.name === 'set_size').status).toBe('skipped');
    const row = (await h.api('GET', `/v1/clusters/${clusterId}/pools`)).body.data.find(
      (p: any) => p.name === 'objects',
    );
    expect(row).toMatchObject({
      type: 'erasure',
      erasure_profile: 'k2m1',
      k: 2,
      m: 1,
      size: 3,
      min_size: 2,
      replication_factor: null,
      pg_autoscale: false,
      status: 'active',
    });
    expect(await cephPool('objects')).toMatchObject({
      type: 'erasure',
      size: 3,
      min_size: 2,
      erasure_profile: 'nf-k2m1-host',
      applications: ['rgw'],
      pg_autoscale_mode: 'off',
    });
    const profile = (await getSandboxCephState(h.db, clusterId))!.erasure_profiles!.find(
      (x) => x.name === 'nf-k2m1-host',
    );
    expect(profile).toEqual({ name: 'nf-k2m1-host', k: 2, m: 1, failure_domain: 'host' });
    await h.recordHistory(op.temporal.workflow_id, 'createPoolWorkflow--erasure-completed');
  });

  it('refuses what the failure domains cannot hold (409 insufficient_failure_domains), min_size ≥ size (400), mixed parameters (400), taken names (409)', async () => {
    const post = (body: Record<string, unknown>) => h.api('POST', `/v1/clusters/${clusterId}/pools`, body);
    let r = await post({ name: 'too-wide', type: 'replicated', replication_factor: 4 });
    expect([r.status, r.body.error.code, r.body.error.field]).toEqual([
      409,
      'insufficient_failure_domains',
      'replication_factor',
    ]);
    expect(r.body.error.message).toMatch(/needs 4 failure domains.*has 3/);
    r = await post({ name: 'too-wide', type: 'erasure', erasure_profile: 'k4m2' });
    expect([r.status, r.body.error.code, r.body.error.field]).toEqual([
      409,
      'insufficient_failure_domains',
      'erasure_profile',
    ]);
    r = await post({ name: 'single', type: 'replicated', replication_factor: 1 });
    expect([r.status, r.body.error.code, r.body.error.field]).toEqual([400, 'validation_error', 'replication_factor']);
    r = await post({ name: 'mixed', type: 'erasure', replication_factor: 3 });
    expect([r.status, r.body.error.code, r.body.error.field]).toEqual([400, 'validation_error', 'replication_factor']);
    r = await post({ name: 'mixed', type: 'replicated', erasure_profile: 'k2m1' });
    expect([r.status, r.body.error.code, r.body.error.field]).toEqual([400, 'validation_error', 'erasure_profile']);
    r = await post({ name: 'bad-profile', type: 'erasure', erasure_profile: 'k1m9' });
    expect([r.status, r.body.error.code, r.body.error.field]).toEqual([400, 'validation_error', 'erasure_profile']);
    r = await post({ name: '.hidden', type: 'replicated' });
    expect([r.status, r.body.error.code, r.body.error.field]).toEqual([400, 'validation_error', 'name']);
    r = await post({ name: 'rbd-data', type: 'replicated' });
    expect([r.status, r.body.error.code]).toEqual([409, 'name_taken']);
    r = await h.api('POST', '/v1/clusters/clus_01jzzzzzzzzzzzzzzzzzzzzzzz/pools', { name: 'x', type: 'replicated' });
    expect([r.status, r.body.error.code]).toEqual([404, 'cluster_not_found']);
    // Nothing was created by any refusal.
    expect((await h.api('GET', `/v1/clusters/${clusterId}/pools`)).body.meta.total).toBe(2);
    expect((await getSandboxCephState(h.db, clusterId))!.pools!.map((p) => p.name).sort()).toEqual([
      '.mgr',
      'objects',
      'rbd-data',
    ]);
  });

  it('delete without X-Confirm-Delete: 400 confirmation_required, nothing changes; with it the pool is removed from Ceph and the list', async () => {
    let r = await h.api('DELETE', `/v1/clusters/${clusterId}/pools/objects`);
    expect([r.status, r.body.error.code]).toEqual([400, 'confirmation_required']);
    expect(await cephPool('objects')).toBeDefined();
    expect(
      (await h.api('GET', `/v1/clusters/${clusterId}/pools`)).body.data.find((p: any) => p.name === 'objects').status,
    ).toBe('active');
    expect((await h.api('GET', `/v1/operations?cluster_id=${clusterId}&type=pool.delete`)).body.meta.total).toBe(0);

    r = await h.api('DELETE', `/v1/clusters/${clusterId}/pools/nope`, undefined, { 'x-confirm-delete': 'true' });
    expect([r.status, r.body.error.code]).toEqual([404, 'pool_not_found']);

    const pgBefore = (await getSandboxCephState(h.db, clusterId))!.pg_num;
    r = await h.api('DELETE', `/v1/clusters/${clusterId}/pools/objects`, undefined, { 'x-confirm-delete': 'true' });
    expect(r.status).toBe(202);
    expect(r.body.data).toMatchObject({ name: 'objects', status: 'deleting' });
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('completed');
    expect(await cephPool('objects')).toBeUndefined();
    expect((await getSandboxCephState(h.db, clusterId))!.pg_num).toBe(pgBefore - 32);
    const list = (await h.api('GET', `/v1/clusters/${clusterId}/pools`)).body;
    expect(list.data.map((p: any) => p.name)).toEqual(['rbd-data']);
    await h.recordHistory(op.temporal.workflow_id, 'deletePoolWorkflow--completed');
  });

  it('a pool already in Ceph with other settings is not adopted: the operation fails and the row says why', async () => {
    // Someone made "legacy" by hand as an erasure pool; NodeFoundry is asked for a replicated one.
    const ceph = (await import('../../drivers/sandbox')).createSandboxDriverSet(h.db, h.accountId).ceph({
      clusterId,
      admin: {
        host: (
          await h.db
            .selectFrom('nodes')
            .select('ip_address')
            .where('cluster_id', '=', clusterId)
            .orderBy('created_at')
            .executeTakeFirstOrThrow()
        ).ip_address,
        port: 22,
        username: 'x',
        privateKey: '',
        pinnedFingerprint: null,
      },
    });
    await ceph.setErasureProfile({ name: 'hand', k: 2, m: 1, failure_domain: 'host' });
    await ceph.createPool({ name: 'legacy', type: 'erasure', pg_num: 8, crush_rule: null, erasure_profile: 'hand' });
    const r = await h.api('POST', `/v1/clusters/${clusterId}/pools`, { name: 'legacy', type: 'replicated' });
    expect(r.status).toBe(202);
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('failed');
    expect(op.error.message).toMatch(/already has a pool legacy.*did not create/);
    const row = (await h.api('GET', `/v1/clusters/${clusterId}/pools`)).body.data.find((p: any) => p.name === 'legacy');
    expect(row.status).toBe('error');
    expect(row.status_reason).toMatch(/did not create/);
    expect((await cephPool('legacy'))!.type).toBe('erasure');
  });
});

/**
 * Cancelling pool operations at several points, through the API. A step is held by taking a
 * machine dark (the harness's power switch): the admin node (every Ceph command fails with
 * ssh_unreachable and is retried, so the step waits) or another member (its OSDs go down, so the
 * wait for PGs active+clean waits).
 */
describe('pools: cancel', () => {
  const locksOf = (operationId: string) =>
    h.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', operationId).execute();
  const rowOf = async (name: string) =>
    (await h.api('GET', `/v1/clusters/${clusterId}/pools?per_page=100`)).body.data.find((p: any) => p.name === name);
  const cancel = async (id: string) => expect((await h.api('POST', `/v1/operations/${id}/cancel`)).status).toBe(202);
  const stepOf = (op: any, name: string) => op.steps.find((s: any) => s.name === name).status;
  /** Nothing left behind: no noout flag in the simulated Ceph, no operation named on the cluster. */
  async function cephSettled() {
    const s = (await getSandboxCephState(h.db, clusterId))!;
    expect(s.noout_hosts).toEqual([]);
    const st = await h.api('GET', `/v1/clusters/${clusterId}`);
    expect(st.body.data.current_operation_id).toBeNull();
  }
  async function createAndFinish(name: string) {
    const r = await h.api('POST', `/v1/clusters/${clusterId}/pools`, { name, type: 'replicated' });
    expect(r.status).toBe(202);
    expect((await h.waitForOperation(r.body.data.operation_id)).status).toBe('completed');
  }
  async function deleteAndFinish(name: string) {
    const r = await h.api('DELETE', `/v1/clusters/${clusterId}/pools/${name}`, undefined, {
      'x-confirm-delete': 'true',
    });
    expect(r.status).toBe(202);
    expect((await h.waitForOperation(r.body.data.operation_id)).status).toBe('completed');
  }

  it('create cancelled right after the 202: nothing made, the row removed (name free), nothing locked; the same request then succeeds', async () => {
    const r = await h.api('POST', `/v1/clusters/${clusterId}/pools`, { name: 'withdrawn', type: 'replicated' });
    expect(r.status).toBe(202);
    await cancel(r.body.data.operation_id);
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('cancelled');
    expect(stepOf(op, 'create_pool')).toBe('cancelled');
    expect(op.logs.map((l: any) => l.message).join('\n')).toMatch(/undone: pool row removed/);
    expect(await rowOf('withdrawn')).toBeUndefined();
    expect(await cephPool('withdrawn')).toBeUndefined();
    expect(await locksOf(op.id)).toEqual([]);
    await cephSettled();
    await h.recordHistory(op.temporal.workflow_id, 'createPoolWorkflow--cancelled-before-create');
    // The name is free and the cluster takes the next operation.
    await createAndFinish('withdrawn');
    expect((await rowOf('withdrawn')).status).toBe('active');
    await deleteAndFinish('withdrawn');
  });

  it('create cancelled while create_pool is retried (admin node dark): row error saying to delete it, no pool in Ceph; DELETE clears it once the node is back', async () => {
    await powerOff(h.db, h.accountId, members[0].ipmi_address);
    try {
      const r = await h.api('POST', `/v1/clusters/${clusterId}/pools`, { name: 'held-create', type: 'replicated' });
      expect(r.status).toBe(202);
      const id = r.body.data.operation_id;
      await h.waitForOperation(id, (o) => o.current_step === 'create_pool');
      await cancel(id);
      const op = await h.waitForOperation(id);
      expect(op.status).toBe('cancelled');
      expect(stepOf(op, 'create_pool')).toBe('cancelled');
      expect(stepOf(op, 'verify')).toBe('cancelled');
      // `osd pool create` may have been sent: the row stays, in error, and says what to do.
      const row = await rowOf('held-create');
      expect(row.status).toBe('error');
      expect(row.status_reason).toMatch(/^creation cancelled; delete the pool/);
      expect(await locksOf(op.id)).toEqual([]);
    } finally {
      await powerOn(h.db, h.accountId, members[0].ipmi_address);
    }
    expect(await cephPool('held-create')).toBeUndefined();
    await cephSettled();
    await deleteAndFinish('held-create');
    expect(await rowOf('held-create')).toBeUndefined();
  });

  it('create cancelled while verify waits for PGs (a member dark): the pool stays in Ceph, made as asked, the row error; DELETE removes it', async () => {
    await powerOff(h.db, h.accountId, members[2].ipmi_address);
    try {
      const r = await h.api('POST', `/v1/clusters/${clusterId}/pools`, {
        name: 'held-verify',
        type: 'replicated',
        application: 'rbd',
      });
      const id = r.body.data.operation_id;
      await h.waitForOperation(id, (o) => o.current_step === 'verify');
      await cancel(id);
      const op = await h.waitForOperation(id);
      expect(op.status).toBe('cancelled');
      expect(['set_size', 'enable_application', 'set_autoscale'].map((s) => stepOf(op, s))).toEqual([
        'completed',
        'completed',
        'completed',
      ]);
      expect(stepOf(op, 'record')).toBe('cancelled');
      expect((await rowOf('held-verify')).status).toBe('error');
      expect(await locksOf(op.id)).toEqual([]);
    } finally {
      await powerOn(h.db, h.accountId, members[2].ipmi_address);
    }
    expect(await cephPool('held-verify')).toMatchObject({ size: 3, min_size: 2, applications: ['rbd'] });
    await cephSettled();
    await deleteAndFinish('held-verify');
    expect(await cephPool('held-verify')).toBeUndefined();
    expect(await rowOf('held-verify')).toBeUndefined();
  });

  it('delete cancelled right after the 202: nothing removed, the row back to active, the pool still in Ceph; the next DELETE gets 202', async () => {
    await createAndFinish('kept');
    const r = await h.api('DELETE', `/v1/clusters/${clusterId}/pools/kept`, undefined, { 'x-confirm-delete': 'true' });
    expect(r.status).toBe(202);
    await cancel(r.body.data.operation_id);
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('cancelled');
    expect(stepOf(op, 'delete_pool')).toBe('cancelled');
    expect(await rowOf('kept')).toMatchObject({ status: 'active', status_reason: null });
    expect(await cephPool('kept')).toBeDefined();
    expect(await locksOf(op.id)).toEqual([]);
    await cephSettled();
    await h.recordHistory(op.temporal.workflow_id, 'deletePoolWorkflow--cancelled-before-rm');
    await deleteAndFinish('kept');
    expect(await cephPool('kept')).toBeUndefined();
  });

  it('delete cancelled while rm is retried (admin node dark): row error "delete it again", pool still in Ceph; a second DELETE removes it', async () => {
    await createAndFinish('held-rm');
    await powerOff(h.db, h.accountId, members[0].ipmi_address);
    try {
      const r = await h.api('DELETE', `/v1/clusters/${clusterId}/pools/held-rm`, undefined, {
        'x-confirm-delete': 'true',
      });
      const id = r.body.data.operation_id;
      await h.waitForOperation(id, (o) => o.current_step === 'delete_pool');
      await cancel(id);
      const op = await h.waitForOperation(id);
      expect(op.status).toBe('cancelled');
      const row = await rowOf('held-rm');
      expect(row.status).toBe('error');
      expect(row.status_reason).toMatch(/deletion cancelled while ceph osd pool rm was running: delete it again/);
      expect(await locksOf(op.id)).toEqual([]);
    } finally {
      await powerOn(h.db, h.accountId, members[0].ipmi_address);
    }
    expect(await cephPool('held-rm')).toBeDefined();
    await cephSettled();
    await deleteAndFinish('held-rm');
    expect(await cephPool('held-rm')).toBeUndefined();
    expect(await rowOf('held-rm')).toBeUndefined();
  });

  it('delete cancelled while verify waits for PGs (a member dark): Ceph removed the pool, so the row is removed too', async () => {
    await createAndFinish('held-rm-verify');
    await powerOff(h.db, h.accountId, members[2].ipmi_address);
    try {
      const r = await h.api('DELETE', `/v1/clusters/${clusterId}/pools/held-rm-verify`, undefined, {
        'x-confirm-delete': 'true',
      });
      const id = r.body.data.operation_id;
      await h.waitForOperation(id, (o) => o.current_step === 'verify');
      await cancel(id);
      const op = await h.waitForOperation(id);
      expect(op.status).toBe('cancelled');
      expect(stepOf(op, 'delete_pool')).toBe('completed');
      expect(op.logs.map((l: any) => l.message).join('\n')).toMatch(/undone: pool row removed/);
      expect(await rowOf('held-rm-verify')).toBeUndefined();
      expect(await cephPool('held-rm-verify')).toBeUndefined();
      expect(await locksOf(op.id)).toEqual([]);
      await h.recordHistory(op.temporal.workflow_id, 'deletePoolWorkflow--cancelled-in-verify');
    } finally {
      await powerOn(h.db, h.accountId, members[2].ipmi_address);
    }
    await cephSettled();
    // The cluster takes the next operation; the name is free.
    await createAndFinish('held-rm-verify');
    await deleteAndFinish('held-rm-verify');
  });
});

describe('pools: named erasure profiles (issue 12 #4)', () => {
  let cid: string;
  beforeAll(async () => {
    // 4 hosts: Ceph's `default` profile (k=2 m=2) needs 4 failure domains.
    const ns = [];
    for (let i = 0; i < 4; i++) ns.push(await h.registerNode());
    const c = await h.api('POST', '/v1/clusters', {
      name: 'named-ec',
      node_ids: ns.map((n) => n.id),
      ceph_version: 'reef',
    });
    expect((await h.waitForOperation(c.body.data.operation_id)).status).toBe('completed');
    cid = c.body.data.id;
  });

  const post = (body: Record<string, unknown>) => h.api('POST', `/v1/clusters/${cid}/pools`, body);
  const rowOf = async (name: string) =>
    (await h.api('GET', `/v1/clusters/${cid}/pools`)).body.data.find((p: any) => p.name === name);
  const inCeph = async (name: string) => (await getSandboxCephState(h.db, cid))!.pools?.find((p) => p.name === name);

  it("Ceph's `default` profile is read from the cluster and used as it is (k=2 m=2, size 4), nothing created", async () => {
    const r = await post({ name: 'on-default', type: 'erasure', erasure_profile: 'default', application: 'rgw' });
    expect(r.status).toBe(202);
    // The API cannot read Ceph: the shape is unknown until the preflight reads the profile.
    expect(r.body.data).toMatchObject({ erasure_profile: 'default', k: null, m: null, status: 'creating' });
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status, JSON.stringify(op.error)).toBe('completed');
    expect(op.steps.find((s: any) => s.name === 'create_profile')).toMatchObject({ status: 'skipped' });
    expect(await rowOf('on-default')).toMatchObject({
      erasure_profile: 'default',
      k: 2,
      m: 2,
      size: 4,
      min_size: 3,
      status: 'active',
    });
    expect(await inCeph('on-default')).toMatchObject({ type: 'erasure', size: 4, erasure_profile: 'default' });
    const profiles = (await getSandboxCephState(h.db, cid))!.erasure_profiles!;
    expect(profiles).toEqual([{ name: 'default', k: 2, m: 2, failure_domain: 'host' }]);
    await h.recordHistory(op.temporal.workflow_id, 'createPoolWorkflow--named-profile-completed');
  });

  it('a profile the cluster does not have fails clearly (erasure_profile_not_found), nothing made; a k<K>m<M> out of bounds is a 400', async () => {
    let r = await post({ name: 'on-gold', type: 'erasure', erasure_profile: 'gold' });
    expect(r.status).toBe(202);
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect([op.status, op.error?.code]).toEqual(['failed', 'erasure_profile_not_found']);
    expect(op.error.message).toContain('no erasure code profile named gold');
    expect(await inCeph('on-gold')).toBeUndefined();
    expect((await getSandboxCephState(h.db, cid))!.erasure_profiles!.map((p) => p.name)).toEqual(['default']);
    expect(await rowOf('on-gold')).toMatchObject({ status: 'error' });
    // Not a profile name, or the on-demand form out of its bounds: 400 before anything starts.
    for (const bad of ['-x y', 'k1m9']) {
      r = await post({ name: 'bad', type: 'erasure', erasure_profile: bad });
      expect([r.status, r.body.error.code, r.body.error.field]).toEqual([400, 'validation_error', 'erasure_profile']);
    }
  });
});
