import { recordHistory } from '../helpers/history';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/database';
import { createDriverRegistry } from '../../drivers';
import {
  createSandboxCephCluster,
  createSandboxDriverSet,
  getSandboxCephState,
  getSandboxMachine,
  listPowerEvents,
  setMachineFaults,
} from '../../drivers/sandbox';
import type { BmcTarget, DriverRegistry, PowerDriver, PowerState } from '../../drivers/types';
import { newId } from '../../lib/ids';
import type { RunningWorker } from '../../worker/main';
import { nodeBody, startTestApi, type TestApi } from '../helpers/api';
import { generateSshKey } from '../helpers/ssh-keys';
import { startTestWorker } from '../helpers/worker';

/**
 * Power compensation and the flags an operator set (issue 8 #1, #2, #11): a cancelled or failed
 * reboot ends with the machine on even when the cancel lands during the OS's shutdown, a power wait
 * whose BMC read never answers still ends (typed) and compensates, and a noout found on the host is
 * left as it was. Real API, real worker, real Temporal, real PostgreSQL, sandbox machines.
 */
let h: TestApi;
let db: Db;
let worker: RunningWorker;
let accountId: string;

/**
 * BMCs whose status read stops answering once a soft power-off was accepted (a BMC that hangs in
 * the middle of a shutdown), until released. Only reads hang; commands still reach the machine.
 */
const hangAfterSoft = new Set<string>();
const hanging = new Set<string>();
const waiters = new Map<string, (() => void)[]>();
function release(address: string): void {
  hanging.delete(address);
  hangAfterSoft.delete(address);
  for (const w of waiters.get(address) ?? []) w();
  waiters.delete(address);
}

function hangingPower(inner: PowerDriver): PowerDriver {
  return {
    ...inner,
    async status(bmc: BmcTarget): Promise<PowerState> {
      if (hanging.has(bmc.address)) {
        await new Promise<void>((resolve) => waiters.set(bmc.address, [...(waiters.get(bmc.address) ?? []), resolve]));
      }
      return inner.status(bmc);
    },
    async soft(bmc: BmcTarget): Promise<void> {
      await inner.soft(bmc);
      if (hangAfterSoft.has(bmc.address)) hanging.add(bmc.address);
    },
  };
}

beforeAll(async () => {
  h = await startTestApi();
  db = h.db;
  accountId = h.account.accountId;
  const real = createDriverRegistry({ db, config: h.config });
  const drivers: DriverRegistry = {
    for(environment, account) {
      const set = real.for(environment, account);
      return { ...set, power: hangingPower(set.power) };
    },
  };
  worker = await startTestWorker(h.config, db, drivers);
});

afterAll(async () => {
  for (const a of [...hanging]) release(a);
  await worker?.shutdown();
  await h?.close();
});

async function api(method: string, url: string, body?: unknown) {
  return h.request(method, url, body === undefined ? {} : { body });
}

async function waitForOperation(
  id: string,
  until: (op: any) => boolean = (op) => ['completed', 'failed', 'cancelled'].includes(op.status),
  timeoutMs = 90_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await api('GET', `/v1/operations/${id}`);
    expect(r.status).toBe(200);
    if (until(r.body.data)) return r.body.data;
    if (Date.now() > deadline)
      throw new Error(`operation ${id} still ${r.body.data.status}: ${JSON.stringify(r.body.data)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

async function registerNode(): Promise<any> {
  const r = await api('POST', '/v1/nodes', nodeBody(generateSshKey().privateKey));
  expect(r.status).toBe(202);
  expect((await waitForOperation(r.body.data.operation_id)).status).toBe('completed');
  return (await api('GET', `/v1/nodes/${r.body.data.id}`)).body.data;
}

/** Three registered nodes made members of a sandbox cluster. */
async function clusterOfThree(): Promise<{ clusterId: string; nodes: any[] }> {
  const nodes = [];
  for (let i = 0; i < 3; i++) nodes.push(await registerNode());
  const clusterId = newId('cluster');
  await db
    .insertInto('clusters')
    .values({
      id: clusterId,
      account_id: accountId,
      environment: 'sandbox',
      name: `pc-${clusterId.slice(-6)}`,
      status: 'HEALTH_OK',
      ceph_version: 'reef',
      admin_node_id: nodes[0].id,
    })
    .execute();
  await db
    .updateTable('nodes')
    .set({ cluster_id: clusterId, status: 'online' })
    .where(
      'id',
      'in',
      nodes.map((n) => n.id),
    )
    .execute();
  await createSandboxCephCluster(
    db,
    {
      accountId,
      clusterId,
      hosts: nodes.map((n) => ({
        hostname: n.hostname,
        ipmiAddress: n.ipmi_address,
        osdDevices: n.drives.slice(0, 2).map((d: any) => d.device),
      })),
      replication: 3,
      minSize: 2,
      cephVersion: 'reef',
    },
    h.config.sandboxSpeed,
  );
  return { clusterId, nodes };
}

function cephOf(clusterId: string, admin: any) {
  return createSandboxDriverSet(db, accountId).ceph({
    clusterId,
    admin: { host: admin.ip_address, port: 22, username: 'nodefoundry', privateKey: '', pinnedFingerprint: null },
  });
}

/** The machine's OS takes `ms` to shut down after an ACPI power-off (the sandbox's shutdown delay). */
async function setShutdownDelay(ipmiAddress: string, ms: number): Promise<void> {
  await db
    .updateTable('sandbox_machines')
    .set({ shutdown_delay_ms: ms })
    .where('account_id', '=', accountId)
    .where('ipmi_address', '=', ipmiAddress)
    .execute();
}

async function expectHostRestored(clusterId: string, nodes: any[], target: any, opId: string): Promise<void> {
  const machine = (await getSandboxMachine(db, accountId, target.ipmi_address))!;
  expect(machine.power_state).toBe('on');
  expect(machine.shutting_down).toBe(false);
  expect(machine.running).toBe(true);
  const hostOsds = (await cephOf(clusterId, nodes[0]).osds()).filter((o) => o.host === target.hostname);
  expect(hostOsds.length).toBeGreaterThan(0);
  expect(hostOsds.every((o) => o.up)).toBe(true);
  expect((await getSandboxCephState(db, clusterId))!.noout_hosts).toEqual([]);
  expect(await db.selectFrom('operation_locks').selectAll().where('operation_id', '=', opId).execute()).toEqual([]);
  expect((await api('GET', `/v1/nodes/${target.id}`)).body.data.current_operation_id).toBeNull();
}

describe('power compensation: the machine ends up on', () => {
  it('a graceful reboot cancelled during the OS shutdown waits for off, then powers on: log soft, on; OSDs up, noout unset, lock released', async () => {
    const { clusterId, nodes } = await clusterOfThree();
    const target = nodes[1];
    const shutdownMs = 3_000;
    await setShutdownDelay(target.ipmi_address, shutdownMs);
    const r = await api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'graceful', drain_osds: true });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;

    // Cancel right after the BMC accepted the soft power-off, while the OS is still shutting down
    // (the BMC reads "on" then).
    await expect
      .poll(async () => (await listPowerEvents(db, accountId, target.ipmi_address)).map((e) => e.action), {
        timeout: 30_000,
        interval: 20,
      })
      .toEqual(['soft']);
    const during = (await getSandboxMachine(db, accountId, target.ipmi_address))!;
    expect(during.power_state).toBe('on');
    expect(during.shutting_down).toBe(true);
    expect((await api('POST', `/v1/operations/${id}/cancel`)).status).toBe(202);

    const op = await waitForOperation(id);
    expect(op.status).toBe('cancelled');
    expect(op.error).toEqual({ code: 'cancelled', message: 'The operation was cancelled; its changes were undone.' });
    const logs = op.logs.map((l: any) => l.message).join('\n');
    expect(logs).toMatch(
      new RegExp(
        `undone: ${target.hostname} went off \\d+ s after the power-off was sent and was powered back on; it is on`,
      ),
    );
    expect(logs).toMatch(/undone: start the OSDs/);
    expect(logs).toMatch(/undone: unset noout/);
    expect(logs).not.toMatch(/left work for an operator|compensation problem/);

    // Exactly one soft and one on, and the on only once the machine had gone off.
    const power = await listPowerEvents(db, accountId, target.ipmi_address);
    expect(power.map((e) => e.action)).toEqual(['soft', 'on']);
    expect(power[1]!.at.getTime() - power[0]!.at.getTime()).toBeGreaterThanOrEqual(shutdownMs);
    // The API's view of the machine says the same.
    const seen = await api('GET', `/v1/sandbox/machines/${target.id}`);
    expect(seen.status).toBe(200);
    expect(seen.body.data.power_log.map((e: any) => e.action)).toEqual(['soft', 'on']);
    expect(seen.body.data.power_state).toBe('on');
    await expectHostRestored(clusterId, nodes, target, id);
    await recordHistory(h.client, op.temporal.workflow_id, 'rebootNodeWorkflow--cancelled-in-shutdown-powered-on');
  });

  it('a cancelled reboot whose power could not be restored ends cancelled and says what was left, never "undone"', async () => {
    const { clusterId, nodes } = await clusterOfThree();
    const target = nodes[2];
    // The OS ignores the ACPI power button (so its OSDs can still be started), and the BMC dies once
    // it has accepted the soft power-off: nobody can tell whether the machine is on.
    await setMachineFaults(db, accountId, target.ipmi_address, { soft_off_ignored: true });
    const r = await api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'graceful', drain_osds: true });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    await expect
      .poll(async () => (await listPowerEvents(db, accountId, target.ipmi_address)).map((e) => e.action), {
        timeout: 30_000,
        interval: 20,
      })
      .toEqual(['soft']);
    await setMachineFaults(db, accountId, target.ipmi_address, { soft_off_ignored: true, bmc_unreachable: true });
    expect((await api('POST', `/v1/operations/${id}/cancel`)).status).toBe(202);

    const op = await waitForOperation(id);
    expect(op.status).toBe('cancelled');
    expect(op.error.code).toBe('cancelled');
    expect(op.error.message).not.toMatch(/changes were undone/);
    expect(op.error.message).toMatch(
      new RegExp(
        `^The operation was cancelled; not all of its changes could be undone: power ${target.hostname} back on failed: ${target.hostname} may still be powered off: bmc_unreachable`,
      ),
    );
    const logs = op.logs.map((l: any) => l.message);
    expect(logs.some((l: string) => /^undone: .*power/.test(l) || /^undone: .*back on/.test(l))).toBe(false);
    expect(logs.join('\n')).toMatch(/cancellation left work for an operator: power .* back on failed/);
    // What could be undone was: OSDs started (the OS kept running), noout unset, lock released.
    expect(logs).toContain(`undone: start the OSDs on ${target.hostname}`);
    expect(logs).toContain(`undone: unset noout on ${target.hostname}`);
    expect((await getSandboxCephState(db, clusterId))!.noout_hosts).toEqual([]);
    expect(await db.selectFrom('operation_locks').selectAll().where('operation_id', '=', id).execute()).toEqual([]);
    await setMachineFaults(db, accountId, target.ipmi_address, {});
  });

  it('a power wait whose BMC read never answers ends with power_timeout at its bound, and the reboot compensates: machine on, OSDs up, noout unset', async () => {
    const { clusterId, nodes } = await clusterOfThree();
    const target = nodes[0];
    // From the soft power-off on, every status read of this BMC hangs (no answer, no error).
    hangAfterSoft.add(target.ipmi_address);
    const started = Date.now();
    const r = await api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'graceful', drain_osds: true });
    expect(r.status).toBe(202);
    const id = r.body.data.operation_id;
    // The wait ends by itself at NF_WAIT_POWER_MS (10 s here) with a typed failure — not after the
    // heartbeat timeouts of five hung attempts, and not as an internal error.
    const compensating = await waitForOperation(
      id,
      (o) => o.logs.some((l: any) => /compensating after/.test(l.message)) || o.status !== 'in_progress',
      45_000,
    );
    const waited = Date.now() - started;
    expect(compensating.logs.map((l: any) => l.message).join('\n')).toMatch(
      /compensating after failure \(power_timeout\)/,
    );
    expect(waited).toBeLessThan(40_000);
    // The BMC answers again: compensation finds the machine off and powers it on.
    release(target.ipmi_address);

    const op = await waitForOperation(id);
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('power_timeout');
    expect(op.error.message).toMatch(
      new RegExp(
        `Timed out after \\d+ s waiting for ${target.hostname} to power off \\(last error: no answer within 10 s`,
      ),
    );
    expect(op.error.message).not.toMatch(/Compensation incomplete/);
    expect((await listPowerEvents(db, accountId, target.ipmi_address)).map((e) => e.action)).toEqual(['soft', 'on']);
    await expectHostRestored(clusterId, nodes, target, id);

    // Bounded server-side too, whatever the worker does: every power wait was scheduled with a
    // schedule-to-close timeout of its configured bound (10 s) + 2 min, the power restore with two
    // bounds (off wait, then on wait) + 2 min.
    const history = await h.client.workflow.getHandle(op.temporal.workflow_id).fetchHistory();
    const bounds: Record<string, number[]> = {};
    for (const e of history.events ?? []) {
      const a = e.activityTaskScheduledEventAttributes;
      const name = a?.activityType?.name;
      if (a && (name === 'waitForPower' || name === 'ensurePoweredOn'))
        (bounds[name] ??= []).push(Number(a.scheduleToCloseTimeout?.seconds ?? 0));
    }
    expect(bounds).toEqual({ waitForPower: [130], ensurePoweredOn: [140] });
  });
});

describe('flags an operator set are left as they were', () => {
  it('a reboot of a host whose noout was set before it leaves that noout set at the end', async () => {
    const { clusterId, nodes } = await clusterOfThree();
    const target = nodes[1];
    await cephOf(clusterId, nodes[0]).setGroupNoout(target.hostname);
    const r = await api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'graceful', drain_osds: true });
    expect(r.status).toBe(202);
    const op = await waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('completed');
    expect((await listPowerEvents(db, accountId, target.ipmi_address)).map((e) => e.action)).toEqual(['soft', 'on']);
    expect((await getSandboxCephState(db, clusterId))!.noout_hosts).toEqual([target.hostname]);
    const logs = op.logs.map((l: any) => l.message).join('\n');
    expect(logs).toMatch(new RegExp(`noout was already set on ${target.hostname} before this reboot`));
    expect(op.steps.find((s: any) => s.name === 'unset_noout').status).toBe('skipped');
    await recordHistory(h.client, op.temporal.workflow_id, 'rebootNodeWorkflow--noout-set-before-left-set');
  });

  it('a cancelled reboot of a host whose noout was set before it leaves that noout set', async () => {
    const { clusterId, nodes } = await clusterOfThree();
    const target = nodes[2];
    await cephOf(clusterId, nodes[0]).setGroupNoout(target.hostname);
    await setMachineFaults(db, accountId, target.ipmi_address, { soft_off_ignored: true });
    const r = await api('POST', `/v1/nodes/${target.id}/reboot`, { method: 'graceful', drain_osds: true });
    const id = r.body.data.operation_id;
    await waitForOperation(id, (o) => o.current_step === 'power_off');
    expect((await api('POST', `/v1/operations/${id}/cancel`)).status).toBe(202);
    const op = await waitForOperation(id);
    expect(op.status).toBe('cancelled');
    expect(op.logs.map((l: any) => l.message).join('\n')).not.toMatch(/unset noout/);
    expect((await getSandboxCephState(db, clusterId))!.noout_hosts).toEqual([target.hostname]);
    await setMachineFaults(db, accountId, target.ipmi_address, {});
  });
});
