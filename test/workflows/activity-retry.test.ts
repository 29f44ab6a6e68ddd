import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './cluster-harness';

/**
 * SPEC §6: "a failed activity can be retried from the UI and the operation resumes". A BMC that
 * stops answering makes a reboot's power command fail with a retryable error; Temporal retries it
 * with backoff (hardwareCommand: 2 s, 4 s, 8 s …) and shows it under the workflow's pending
 * activities. Once the BMC answers again, an operator resets the activity (Web UI: Pending
 * Activities → Reset; CLI: `temporal activity reset`), which is the ResetActivity call made here:
 * the next attempt runs at once instead of after the backoff, and the same run carries on.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

interface Pending {
  activityId?: string | null;
  activityType?: { name?: string | null } | null;
  attempt?: number | null;
  lastFailure?: { message?: string | null } | null;
  nextAttemptScheduleTime?: { seconds?: unknown; nanos?: number | null } | null;
}

const tsMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  t ? Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : NaN;

describe('retrying a failed activity (what the Web UI does)', () => {
  it('a power command failing on an unreachable BMC is seen retrying (attempt > 1, last failure); after the fault is cleared a reset retries it at once and the operation completes in the same run', async () => {
    const node = await h.registerNode();
    let r = await h.api('PUT', `/v1/sandbox/machines/${node.id}/faults`, { faults: { bmc_unreachable: true } });
    expect(r.status).toBe(200);

    r = await h.api('POST', `/v1/nodes/${node.id}/reboot`, { method: 'hard' });
    expect(r.status).toBe(202);
    const opId = r.body.data.operation_id;
    const running = await h.waitForOperation(opId, (o) => o.current_step === 'power_off');
    const workflowId = running.temporal.workflow_id;
    const handle = h.client.workflow.getHandle(workflowId);

    // Pending Activities, as the UI shows them: the power command, retried, with its last failure.
    let pending: Pending | undefined;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const d = await handle.describe();
      pending = (d.raw.pendingActivities as Pending[] | null | undefined)?.find(
        (a) => a.activityType?.name === 'powerCommand',
      );
      if (pending && (pending.attempt ?? 0) >= 2 && pending.lastFailure) break;
      if (Date.now() > deadline)
        throw new Error(`no retried powerCommand among pending activities: ${JSON.stringify(d.raw.pendingActivities)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(pending.lastFailure!.message).toMatch(/BMC|bmc|IPMI|ipmi/);
    // What docs/operators.md tells an operator to run shows the same (the Temporal CLI the tests use).
    const cli = process.env.NF_TEMPORAL_BIN ?? path.join(os.homedir(), '.cache/nodefoundry/bin/temporal');
    const { stdout } = await promisify(execFile)(cli, [
      'workflow',
      'describe',
      '--address',
      h.config.temporal.address,
      '--namespace',
      h.config.temporal.namespace,
      '--workflow-id',
      workflowId,
    ]);
    expect(stdout).toMatch(/Pending Activities/i);
    expect(stdout).toContain('powerCommand');
    expect(stdout).toMatch(/Attempt\s+\d/);
    const during = (await h.api('GET', `/v1/operations/${opId}`)).body.data;
    expect(during).toMatchObject({ status: 'in_progress', current_step: 'power_off' });
    expect((await h.api('GET', `/v1/sandbox/machines/${node.id}`)).body.data.power_log).toEqual([]);

    // The operator fixes the BMC, then resets the activity instead of waiting out the backoff.
    r = await h.api('PUT', `/v1/sandbox/machines/${node.id}/faults`, { faults: {} });
    expect(r.status).toBe(200);
    // Re-read: the reset must come before the next attempt the server has scheduled.
    const d = await handle.describe();
    pending = (d.raw.pendingActivities as Pending[]).find((a) => a.activityType?.name === 'powerCommand')!;
    const nextAttemptAt = tsMs(pending.nextAttemptScheduleTime);
    expect(nextAttemptAt - Date.now()).toBeGreaterThan(1_000);
    await h.client.workflowService.resetActivity({
      namespace: h.config.temporal.namespace,
      execution: { workflowId },
      id: pending.activityId!,
      identity: 'activity-retry test (an operator)',
    });

    const op = await h.waitForOperation(opId);
    expect(op.status).toBe('completed');
    // The power command ran right after the reset, before its scheduled retry.
    const log = (await h.api('GET', `/v1/sandbox/machines/${node.id}`)).body.data.power_log;
    expect(log.map((e: any) => e.action)).toEqual(['off', 'on']);
    expect(Date.parse(log[0].at)).toBeLessThan(nextAttemptAt);
    // Resumed, not restarted: the same run, the step done once, never paused, nothing pending.
    expect(op.temporal.run_id).toBe(running.temporal.run_id);
    expect(op.steps.find((s: any) => s.name === 'power_off').status).toBe('completed');
    const after = await handle.describe();
    expect(after.runId).toBe(running.temporal.run_id);
    expect(after.raw.pendingActivities ?? []).toEqual([]);
    const history = await handle.fetchHistory();
    const scheduled = (history.events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'powerCommand',
    );
    // One schedule per power command (off, then on): the retries were attempts of the same activity.
    expect(scheduled).toHaveLength(2);
    expect(await h.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', opId).execute()).toEqual([]);
  });

  it('a BMC whose power-state read fails (bmc_power_unknown) is never taken for "off": the power command retries without sending anything, and a cancel leaves the machine on, untouched', async () => {
    // cluster-api-provider-maas#379: a BMC query error read as "not on" hard-cycled healthy nodes.
    const node = await h.registerNode();
    let r = await h.api('PUT', `/v1/sandbox/machines/${node.id}/faults`, { faults: { power_state_unknown: true } });
    expect(r.status).toBe(200);
    r = await h.api('POST', `/v1/nodes/${node.id}/reboot`, { method: 'hard' });
    expect(r.status).toBe(202);
    const opId = r.body.data.operation_id;
    const running = await h.waitForOperation(opId, (o) => o.current_step === 'power_off');
    const handle = h.client.workflow.getHandle(running.temporal.workflow_id);
    let pending: Pending | undefined;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const d = await handle.describe();
      pending = (d.raw.pendingActivities as Pending[] | null | undefined)?.find(
        (a) => a.activityType?.name === 'powerCommand',
      );
      if (pending && (pending.attempt ?? 0) >= 2 && pending.lastFailure) break;
      if (Date.now() > deadline)
        throw new Error(`no retried powerCommand among pending activities: ${JSON.stringify(d.raw.pendingActivities)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(pending.lastFailure!.message).toMatch(/state unknown/);
    // Retried, and nothing was sent: the machine is on, exactly as before.
    let machine = (await h.api('GET', `/v1/sandbox/machines/${node.id}`)).body.data;
    expect([machine.power_state, machine.power_log]).toEqual(['on', []]);

    r = await h.api('POST', `/v1/operations/${opId}/cancel`);
    expect(r.status).toBe(202);
    const op = await h.waitForOperation(opId);
    expect(op.status).toBe('cancelled');
    machine = (await h.api('GET', `/v1/sandbox/machines/${node.id}`)).body.data;
    expect([machine.power_state, machine.power_log]).toEqual(['on', []]);
    expect(await h.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', opId).execute()).toEqual([]);
    await h.api('PUT', `/v1/sandbox/machines/${node.id}/faults`, { faults: {} });
  });
});
