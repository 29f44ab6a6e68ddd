import { describe, expect, it } from 'vitest';
import { parseCephVersion, sandboxVersionString } from '../../lib/ceph-releases';
import {
  bookkeepingStubs,
  gate,
  outcome,
  StubActivities,
  waitBoundsStub,
  withStubWorker,
  type StubFn,
} from '../helpers/stub-worker';

/**
 * The rolling upgrade (parent and its per-host children) over stubbed activities: pause and resume
 * at a safe point, a failed host pausing the upgrade and being retried on resume, and continuing as
 * new every `hostsPerRun` hosts with the operation carried over.
 */

const HOSTS = ['stor1', 'stor2', 'stor3'];
const REEF = parseCephVersion(sandboxVersionString('reef'))!.version!;

function upgradeFacts(clusterId: string) {
  return {
    clusterId,
    cephVersion: 'reef',
    health: 'HEALTH_OK',
    mons: HOSTS,
    monsInQuorum: HOSTS,
    mgrActive: 'stor1',
    mgrStandbys: ['stor2'],
    hosts: HOSTS.map((h, i) => ({
      hostname: h,
      nodeId: `node_${h}`,
      nodeStatus: 'online',
      held: false,
      osdIds: [2 * i, 2 * i + 1],
      osdsDown: [],
      mon: true,
      mgr: i < 2,
    })),
    daemons: [
      ...HOSTS.map((h) => ({ type: 'mon', id: h, host: h, version: REEF, release: 'reef' })),
      ...HOSTS.slice(0, 2).map((h) => ({ type: 'mgr', id: h, host: h, version: REEF, release: 'reef' })),
      ...HOSTS.flatMap((h, i) =>
        [2 * i, 2 * i + 1].map((id) => ({ type: 'osd', id: String(id), host: h, version: REEF, release: 'reef' })),
      ),
    ],
    noAutoscale: false,
    nooutHosts: [],
  };
}

function upgradeStubs(over: Record<string, StubFn> = {}): StubActivities {
  return new StubActivities({
    ...bookkeepingStubs(),
    ...waitBoundsStub(),
    describeUpgrade: ({ clusterId }: { clusterId: string }) => upgradeFacts(clusterId),
    assertNotHealthErr: () => undefined,
    freezeAutoscale: () => ({ changed: true }),
    releaseAutoscale: () => undefined,
    redeployCephDaemon: () => ({ version: 'squid' }),
    failOverMgr: () => ({ active: 'stor2' }),
    checkOkToStop: () => ({ ok: true, reason: null }),
    okToStopPrefix: ({ hosts }: { hosts: number[][] }) => ({ count: hosts.length, reason: null }),
    recordClusterVersion: () => undefined,
    // The finish step (every daemon at the target, then require-osd-release; issue 10).
    finishUpgrade: () => ({ requireOsdRelease: 'squid', daemons: 20, version: '19.2.2', authInsecureChecks: [] }),
    refreshClusterState: () => undefined,
    clearHostNoout: () => ({ cleared: [] }),
    // upgradeHostWorkflow (the children)
    assertOkToStop: () => undefined,
    hostHasNoout: () => false,
    setHostNoout: () => undefined,
    unsetHostNoout: () => undefined,
    stopOsdsForUpgrade: () => undefined,
    upgradeHostPackages: () => ({ rebootRequired: false }),
    startOsdsAfterUpgrade: () => undefined,
    waitForOsdsUp: () => undefined,
    waitForPgsClean: () => ({ pgs: 64 }),
    verifyHostVersion: () => ({ versions: ['squid'] }),
    ...over,
  });
}

const hostOf = (c: { args: unknown[] }) => (c.args[0] as { host: string }).host;
const pausedArgs = (stubs: StubActivities) =>
  stubs.calls.filter((c) => c.name === 'setOperationPaused').map((c) => (c.args[0] as { paused: boolean }).paused);

function start(client: Parameters<Parameters<typeof withStubWorker>[1]>[0], taskQueue: string, hostsPerRun?: number) {
  const operationId = `op_stub_${Math.random().toString(36).slice(2)}`;
  return client.workflow.start('upgradeClusterWorkflow', {
    taskQueue,
    workflowId: `stub-upgrade-${operationId}`,
    args: [
      {
        operationId,
        accountId: 'acct_stub',
        clusterId: 'clus_stub',
        targetVersion: 'squid',
        osPackages: false,
        maxConcurrent: 1,
        mode: 'upgrade',
        ...(hostsPerRun ? { hostsPerRun } : {}),
      },
    ],
  });
}

describe('upgrade-cluster workflow with stubbed activities', () => {
  it('pause waits at the next safe point; nothing starts until resume; then it completes', async () => {
    const freeze = gate(() => ({ changed: true }));
    const stubs = upgradeStubs({ freezeAutoscale: freeze.fn });
    const end = await withStubWorker(stubs, async (client, taskQueue) => {
      const handle = await start(client, taskQueue);
      await stubs.waitForCall('freezeAutoscale');
      // Paused while the freeze is in flight: it finishes, then nothing new starts.
      const paused = await handle.executeUpdate('pause', { args: [{ reason: 'change window closed' }] });
      expect(paused).toMatchObject({ status: 'paused', error: { code: 'paused_by_request' } });
      freeze.release();
      await stubs.waitForCall('setOperationPaused', (a: { paused: boolean }) => a.paused);
      expect(await handle.query('getOperation')).toMatchObject({ status: 'paused' });
      expect(stubs.names()).not.toContain('redeployCephDaemon');
      expect(stubs.names()).not.toContain('upgradeHostPackages');

      const resumed = await handle.executeUpdate('resume', { args: [] });
      expect(resumed).toMatchObject({ status: 'in_progress', error: null });
      return outcome(handle.result());
    });
    expect(end).toMatchObject({ status: 'completed', value: { hosts_done: 3, hosts_total: 3, runs: 1 } });

    const names = stubs.names();
    const firstPaused = stubs.calls.findIndex((c) => c.name === 'setOperationPaused');
    expect(pausedArgs(stubs)).toEqual([true, false]);
    expect(names.indexOf('freezeAutoscale')).toBeLessThan(firstPaused);
    expect(names.indexOf('redeployCephDaemon')).toBeGreaterThan(firstPaused + 1);
    expect(stubs.calls.filter((c) => c.name === 'freezeAutoscale')).toHaveLength(1);
    const logs = stubs.finalSnapshot().logs.map((l) => l.message);
    expect(logs).toContain(
      'paused: Paused by request: change window closed. No new daemon or host starts; hosts in flight finish.',
    );
    expect(logs).toContain('resumed');
    expect(stubs.finalSnapshot().status).toBe('completed');
  });

  it('progress moves through the mgr/mon phase; the estimate holds still within a step and is null while paused', async () => {
    // 2 mgrs + 3 mons + 3 hosts = 8 units. Held at the first mon: both mgrs are done, 2/8 = 25 %.
    const mon = gate(() => ({ version: 'squid' }));
    const stubs = upgradeStubs({
      redeployCephDaemon: (a: { type: string; host: string }) =>
        a.type === 'mon' && a.host === 'stor1' ? mon.fn() : { version: 'squid' },
    });
    type Snap = { status: string; progress: number; estimated_completion: string | null };
    const end = await withStubWorker(stubs, async (client, taskQueue) => {
      const handle = await start(client, taskQueue);
      await stubs.waitForCall('redeployCephDaemon', (a: { type: string }) => a.type === 'mon');
      const first = (await handle.query('getOperation')) as Snap;
      expect(first).toMatchObject({ status: 'in_progress', progress: 25 });
      expect(first.estimated_completion).not.toBeNull();
      // Polled again within the same step: the same estimate (it used to move later on every poll).
      const again = (await handle.query('getOperation')) as Snap;
      expect(again.estimated_completion).toBe(first.estimated_completion);

      // Paused while the mon is in flight: no estimate while paused, however long it lasts.
      await handle.executeUpdate('pause', { args: [{ reason: 'progress test' }] });
      mon.release();
      await stubs.waitForCall('setOperationPaused', (a: { paused: boolean }) => a.paused);
      const paused = (await handle.query('getOperation')) as Snap;
      // The mon in flight finished during the pause: 3/8 = 37 %.
      expect(paused).toMatchObject({ status: 'paused', progress: 37, estimated_completion: null });
      const beforeResume = Date.now();
      const resumed = (await handle.executeUpdate('resume', { args: [] })) as Snap;
      // The paused time is added, never counted as work: the end is after the resume.
      expect(resumed.status).toBe('in_progress');
      expect(Date.parse(resumed.estimated_completion!)).toBeGreaterThan(beforeResume);
      return outcome(handle.result());
    });
    expect(end).toMatchObject({ status: 'completed', value: { hosts_done: 3 } });
    expect(stubs.finalSnapshot()).toMatchObject({ status: 'completed', progress: 100, estimated_completion: null });
  });

  it('a failed host pauses the upgrade with its reason; resume retries that host and the rest follow', async () => {
    const stubs = upgradeStubs().fail('upgradeHostPackages', {
      type: 'command_failed',
      when: (a: { host: string }) => a.host === 'stor2',
    });
    const end = await withStubWorker(stubs, async (client, taskQueue) => {
      const handle = await start(client, taskQueue);
      await stubs.waitForCall('setOperationPaused', (a: { paused: boolean }) => a.paused);
      const snap = await handle.query('getOperation');
      expect(snap).toMatchObject({ status: 'paused', error: { code: 'command_failed' } });
      expect((snap as { error: { message: string } }).error.message).toMatch(
        /^Upgrade of stor2 failed: stor2: upgradeHostPackages failed/,
      );
      // The failed host put itself back together (OSDs started, noout unset) before the pause.
      expect(stubs.namesAfter('upgradeHostPackages', (a: { host: string }) => a.host === 'stor2').slice(0, 2)).toEqual([
        'startOsdsAfterUpgrade',
        'unsetHostNoout',
      ]);
      expect(stubs.calls.filter((c) => c.name === 'upgradeHostPackages').map(hostOf)).toEqual(['stor1', 'stor2']);
      await handle.executeUpdate('resume', { args: [] });
      return outcome(handle.result());
    });
    expect(end).toMatchObject({ status: 'completed', value: { hosts_done: 3 } });
    expect(stubs.calls.filter((c) => c.name === 'upgradeHostPackages').map(hostOf)).toEqual([
      'stor1',
      'stor2',
      'stor2',
      'stor3',
    ]);
    expect(pausedArgs(stubs)).toEqual([true, false]);
  });

  it('continues as new every hostsPerRun hosts, carrying the operation: every host once, one final record', async () => {
    const stubs = upgradeStubs();
    const { end, firstRun, firstDetails, lastDetails } = await withStubWorker(stubs, async (client, taskQueue) => {
      const handle = await start(client, taskQueue, 1);
      const end = await outcome(handle.result());
      const firstRun = await client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).describe();
      // What the Web UI shows as a run's "current details" (the SDK's metadata query).
      const details = async (runId?: string) =>
        (
          await client.workflow
            .getHandle(handle.workflowId, runId)
            .query<{ currentDetails?: string }>('__temporal_workflow_metadata')
        ).currentDetails ?? '';
      return { end, firstRun, firstDetails: await details(handle.firstExecutionRunId), lastDetails: await details() };
    });
    expect(firstRun.status.name).toBe('CONTINUED_AS_NEW');
    // A continued run has no summary of its own: its current details say what it is; the first run's summary is its own.
    expect(firstDetails).toBe('');
    expect(lastDetails).toMatch(
      /^Upgrade to squid of .+ \(operation .+\), run 3: continued as new after 2 of 3 hosts\./,
    );
    expect(end).toMatchObject({ status: 'completed', value: { hosts_done: 3, hosts_total: 3, runs: 3 } });

    // The preflight and the mgr/mon work ran once, in the first run; each OSD host exactly once.
    expect(stubs.calls.filter((c) => c.name === 'describeUpgrade')).toHaveLength(1);
    expect(stubs.calls.filter((c) => c.name === 'freezeAutoscale')).toHaveLength(1);
    expect(
      stubs.calls
        .filter((c) => c.name === 'redeployCephDaemon')
        .map((c) => `${(c.args[0] as { type: string }).type}.${hostOf(c)}`),
    ).toEqual(['mgr.stor2', 'mgr.stor1', 'mon.stor1', 'mon.stor2', 'mon.stor3']);
    expect(
      stubs.calls
        .filter((c) => c.name === 'upgradeHostPackages')
        .map(hostOf)
        .sort(),
    ).toEqual(HOSTS);
    expect(stubs.calls.filter((c) => c.name === 'releaseAutoscale')).toHaveLength(1);
    // The finish step runs once, in the last run, after every host.
    expect(stubs.calls.filter((c) => c.name === 'finishUpgrade')).toHaveLength(1);

    // One operation: started in the first run, its log and steps carried across runs, recorded once.
    const snap = stubs.finalSnapshot();
    expect(snap.status).toBe('completed');
    expect(snap.progress).toBe(100);
    expect(snap.steps.map((s) => s.status)).toEqual(snap.steps.map(() => 'completed'));
    const logs = snap.logs.map((l) => l.message);
    expect(logs).toContain('continuing as new after 1/3 hosts (run 1)');
    expect(logs).toContain('continuing as new after 2/3 hosts (run 2)');
    expect(logs.filter((l) => l.startsWith('upgrade to squid:'))).toHaveLength(1);
    expect(logs).toContain('all 3 host(s) done');
    // The operation's start is the first run's, not a later run's.
    expect(Date.parse(snap.started_at!)).toBeLessThanOrEqual(Date.parse(snap.steps[0]!.started_at!));
  });
});
