import { describe, expect, it } from 'vitest';
import {
  outcome,
  StubActivities,
  withStubWorker,
  bookkeepingStubs,
  waitBoundsStub,
  type Failure,
} from '../helpers/stub-worker';

/**
 * The reboot workflow over stubbed activities: a failure at each step, and what its compensation
 * undoes, in which order. The stubs model the one machine (power, noout on its host, its OSDs), so
 * every case also checks the end state an operator would see: on, noout unset, OSDs running.
 */

interface Machine {
  power: 'on' | 'off';
  noout: boolean;
  osdsRunning: boolean;
}

function rebootStubs(m: Machine): StubActivities {
  return new StubActivities({
    ...bookkeepingStubs(),
    ...waitBoundsStub(),
    describeNode: ({ nodeId }: { nodeId: string }) => ({
      nodeId,
      hostname: 'stor1',
      environment: 'sandbox',
      clusterId: 'clus_stub',
      held: false,
      status: 'online',
    }),
    hostOsds: () => [0, 1],
    assertOkToStop: () => undefined,
    hostHasNoout: () => m.noout,
    setHostNoout: () => void (m.noout = true),
    unsetHostNoout: () => void (m.noout = false),
    stopOsds: () => void (m.osdsRunning = false),
    startOsds: () => void (m.osdsRunning = m.power === 'on'),
    powerCommand: ({ command }: { command: 'on' | 'off' | 'soft' }) => {
      const sent = (command === 'on') !== (m.power === 'on');
      m.power = command === 'on' ? 'on' : 'off';
      // OSDs start at boot and die with the machine.
      m.osdsRunning = m.power === 'on';
      return { sent };
    },
    waitForPower: ({ state }: { state: 'on' | 'off' }) => {
      if (m.power !== state) throw new Error(`stub: machine is ${m.power}, not ${state}`);
      return { state };
    },
    ensurePoweredOn: () => {
      const wasOff = m.power === 'off';
      m.power = 'on';
      m.osdsRunning = true;
      return { outcome: wasOff ? 'powered_on' : 'already_on', offAfterMs: 0 };
    },
    waitForSsh: () => undefined,
    waitForOsdsUp: () => undefined,
    waitForPgsClean: () => ({ pgs: 64 }),
    refreshClusterState: () => undefined,
  });
}

async function reboot(stubs: StubActivities) {
  return withStubWorker(stubs, async (client, taskQueue) => {
    const operationId = `op_stub_${Math.random().toString(36).slice(2)}`;
    const handle = await client.workflow.start('rebootNodeWorkflow', {
      taskQueue,
      workflowId: `stub-reboot-${operationId}`,
      args: [{ operationId, accountId: 'acct_stub', nodeId: 'node_stub', method: 'graceful', drainOsds: true }],
    });
    return outcome(handle.result());
  });
}

const FORWARD = [
  'markOperationStarted',
  'describeNode',
  'hostOsds',
  'assertOkToStop',
  'hostHasNoout',
  'setHostNoout',
  'stopOsds',
  'waitBounds',
  'powerCommand',
  'waitForPower',
  'powerCommand',
  'waitForPower',
  'waitForSsh',
  'waitForOsdsUp',
  'unsetHostNoout',
  'waitForPgsClean',
  'refreshClusterState',
  'finishOperation',
];

describe('reboot-node workflow with stubbed activities', () => {
  it('the forward path: every step in order, the machine ends on with noout unset', async () => {
    const m: Machine = { power: 'on', noout: false, osdsRunning: true };
    const stubs = rebootStubs(m);
    expect(await reboot(stubs)).toMatchObject({ status: 'completed' });
    expect(stubs.names()).toEqual(FORWARD);
    expect(
      stubs.calls.filter((c) => c.name === 'powerCommand').map((c) => (c.args[0] as { command: string }).command),
    ).toEqual(['soft', 'on']);
    expect(m).toEqual({ power: 'on', noout: false, osdsRunning: true });
    const snap = stubs.finalSnapshot();
    expect(snap.status).toBe('completed');
    expect(snap.steps.every((s) => s.status === 'completed')).toBe(true);
  });

  // step that fails → the activity that fails there → the compensation that must follow, in order.
  const cases: { step: string; activity: string; failure: Failure; undo: string[] }[] = [
    { step: 'preflight', activity: 'assertOkToStop', failure: { type: 'not_ok_to_stop' }, undo: [] },
    // The command took effect but its reply was lost: noout is still unset by compensation.
    {
      step: 'set_noout',
      activity: 'setHostNoout',
      failure: { type: 'noout_not_set', after: true },
      undo: ['unsetHostNoout'],
    },
    {
      step: 'stop_osds',
      activity: 'stopOsds',
      failure: { type: 'command_failed', after: true },
      undo: ['startOsds', 'unsetHostNoout'],
    },
    // The soft power-off went out and the machine went off, but the wait for "off" failed.
    {
      step: 'power_off',
      activity: 'waitForPower',
      failure: { type: 'power_timeout', when: (a: { state: string }) => a.state === 'off' },
      undo: ['ensurePoweredOn', 'startOsds', 'unsetHostNoout'],
    },
    // The BMC refused the power-on: the machine is off.
    {
      step: 'power_on',
      activity: 'powerCommand',
      failure: { type: 'bmc_unreachable', when: (a: { command: string }) => a.command === 'on' },
      undo: ['ensurePoweredOn', 'startOsds', 'unsetHostNoout'],
    },
    {
      step: 'wait_ssh',
      activity: 'waitForSsh',
      failure: { type: 'ssh_timeout' },
      undo: ['startOsds', 'unsetHostNoout'],
    },
    {
      step: 'wait_osds_up',
      activity: 'waitForOsdsUp',
      failure: { type: 'osds_not_up' },
      undo: ['startOsds', 'unsetHostNoout'],
    },
    // The forward unset failed once; compensation unsets it.
    { step: 'unset_noout', activity: 'unsetHostNoout', failure: { type: 'command_failed' }, undo: ['unsetHostNoout'] },
    { step: 'wait_clean', activity: 'waitForPgsClean', failure: { type: 'pgs_not_clean' }, undo: [] },
  ];

  it.each(cases)(
    'a failure at $step ($activity) undoes $undo and leaves the machine on, noout unset',
    async ({ step, activity, failure, undo }) => {
      const m: Machine = { power: 'on', noout: false, osdsRunning: true };
      const stubs = rebootStubs(m).fail(activity, failure);
      expect(await reboot(stubs)).toEqual({ status: 'failed', type: failure.type });

      // Nothing of the forward path runs after the failure: only compensation, then the final record.
      const after = stubs.namesAfter(activity, failure.when ?? (() => true));
      expect(after).toEqual([...undo, 'finishOperation']);
      expect(m).toEqual({ power: 'on', noout: false, osdsRunning: true });

      const snap = stubs.finalSnapshot();
      expect(snap.status).toBe('failed');
      expect(snap.error?.code).toBe(failure.type);
      expect(snap.error?.message).not.toMatch(/Compensation incomplete/);
      expect(snap.steps.find((s) => s.name === step)?.status).toBe('failed');
      const stepsAfter = snap.steps.slice(snap.steps.findIndex((s) => s.name === step) + 1);
      expect(stepsAfter.every((s) => s.status === 'skipped')).toBe(true);
      const logs = snap.logs.map((l) => l.message);
      expect(logs).toContain(`compensating after failure (${failure.type})`);
      if (undo.includes('unsetHostNoout')) expect(logs).toContain('undone: unset noout on stor1');
      if (undo.includes('startOsds')) expect(logs).toContain('undone: start the OSDs on stor1');
      if (undo.includes('ensurePoweredOn'))
        expect(logs.some((l) => /^undone: stor1 went off .* powered back on; it is on$/.test(l))).toBe(true);
    },
  );

  it('noout an operator set before the reboot is left set, on success and on failure', async () => {
    for (const failAt of [null, 'waitForSsh'] as const) {
      const m: Machine = { power: 'on', noout: true, osdsRunning: true };
      const stubs = rebootStubs(m);
      if (failAt) stubs.fail(failAt, { type: 'ssh_timeout' });
      expect((await reboot(stubs)).status).toBe(failAt ? 'failed' : 'completed');
      expect(stubs.names()).not.toContain('setHostNoout');
      expect(stubs.names()).not.toContain('unsetHostNoout');
      expect(m).toEqual({ power: 'on', noout: true, osdsRunning: true });
    }
  });
});
