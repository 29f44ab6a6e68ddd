import {
  allHandlersFinished,
  ApplicationFailure,
  ChildWorkflowCancellationType,
  condition,
  continueAsNew,
  executeChild,
  isCancellation,
  patched,
  setCurrentDetails,
  workflowInfo,
} from '@temporalio/workflow';
import { act } from './activity-proxies';
import { isTentacleOrLater, parseCephVersion } from './ceph-releases';
import {
  FAILURE,
  SA_ACCOUNT_ID,
  SA_CLUSTER_ID,
  SA_NODE_ID,
  SA_OPERATION_ID,
  SA_OPERATION_TYPE,
  upgradeHostWorkflowId,
  type OperationError,
  type UpgradeClusterRunInput,
} from './contracts';
import { upgradeFraction, upgradeUnits } from '../lib/plans/progress';
import { describeFailure, OperationTracker, type TrackerState } from './operation-tracker';
import { nextBatch, upgradePlan, type PlannedHost, type UpgradeSchedule } from './plans/upgrade-cluster.plan';
import { OPERATIONS } from './registry';
import { runOperation, undoAll } from './run-operation';
import { UpgradeControl } from './upgrade-control';
import { upgradeHostWorkflow } from './upgrade-host.workflow';

/**
 * Hosts started per run before continuing as new. Each host costs the parent a handful of events
 * (child start and result, its share of ok-to-stop checks), so a run stays in the low thousands of
 * events whatever the cluster's size; Temporal's own suggestion ends a run earlier if it comes first.
 */
const DEFAULT_HOSTS_PER_RUN = 100;

/** What one run hands the next (continue-as-new). JSON-safe; the operation's state lives in `tracker`. */
interface UpgradeProgress {
  schedule: UpgradeSchedule;
  /** Hosts still to do, in order; a failed host goes back to the front and is retried on resume. */
  queue: PlannedHost[];
  done: string[];
  total: number;
  /**
   * mgrs and mons redeployed so far (units of progress beside the hosts). Absent in runs carried
   * before it existed: those are past the daemons, so all count as done.
   */
  daemonsDone?: number;
  /** This upgrade froze PG autoscaling (an operator's own freeze is left as it was). */
  froze: boolean;
  /** Hosts that carried noout before the upgrade started: compensation leaves their flag as it was. */
  nooutBefore?: string[];
  /** What the last step found and set (upgrade mode, runs that have the finish step), for the result. */
  finished?: { require_osd_release: string | null; auth_insecure_checks_remain?: boolean; skipped_hosts?: string[] };
}

/**
 * A batch's size is found by one activity (okToStopPrefix: the largest front of the candidate that
 * ok-to-stop accepts) instead of one checkOkToStop activity per size tried from the top down, which
 * cost a shrinking batch of 16 up to 16 round trips (issue 14's profile). Older histories keep the loop.
 */
const BATCH_OK_TO_STOP_PATCH = 'upgrade-batch-ok-to-stop-one-activity';

/** The finish step (require-osd-release, every daemon at the target), added after the first histories. */
const FINISH_UPGRADE_PATCH = 'upgrade-finishes-require-osd-release';

/**
 * Rolling upgrade (or rolling restart) of a cluster (SPEC §3): preflight refusals, PG autoscaling
 * frozen, mgrs (standbys, failover, the old active), mons one at a time back in quorum, then OSD
 * hosts in batches of child workflows bounded by max_concurrent and by ok-to-stop, autoscaling
 * restored. Any failure pauses the upgrade with its reason; `pause`/`resume` updates and cancel
 * work at any time. Progress is units done / units total, a unit being one mgr, one mon or one OSD host. The run continues as new every
 * DEFAULT_HOSTS_PER_RUN hosts, carrying the operation's state, so a 2,000-host cluster stays far from
 * history limits; the workflow id (and so the API's query) is the same across runs.
 */
export async function upgradeClusterWorkflow(input: UpgradeClusterRunInput): Promise<Record<string, unknown>> {
  const op = new OperationTracker(OPERATIONS['cluster.upgrade'].steps);
  const { clusterId, operationId } = input;
  const runs = (input.carry?.runs ?? 0) + 1;
  let p: UpgradeProgress | null = null;
  if (input.carry) {
    op.importState(input.carry.tracker as TrackerState);
    p = input.carry.progress as UpgradeProgress;
    // A continued run has no summary of its own (Temporal keeps static metadata per run): its
    // "current details" say what it is (Web UI, workflow page). State only, no command: replays as before.
    const what = input.mode === 'restart' ? 'Rolling restart' : `Upgrade to ${p.schedule.target}`;
    setCurrentDetails(
      `${what} of ${input.clusterName ?? clusterId} (operation ${operationId}), run ${runs}: continued as new after ${p.done.length} of ${p.total} hosts. The first run of this workflow id has the summary and details.`,
    );
  }
  const ctl = new UpgradeControl(op, { operationId, clusterId });
  ctl.registerHandlers();
  if (p) ctl.target = p.schedule.target;
  const u: Upgrade = { input, op, ctl, runs };

  return runOperation(operationId, op, {
    run: async () => {
      if (!p) {
        p = await op.step('preflight', () => preflight(u));
        ctl.target = p.schedule.target;
        progressOf(op, p);
        const s = p;
        await op.step('freeze_autoscale', () => freezeAutoscale(u, s));
        await op.step('upgrade_mgrs', () => upgradeMgrs(u, s));
        await op.step('upgrade_mons', () => upgradeMons(u, s));
      }
      const s = p;
      await op.step('upgrade_osd_hosts', () => upgradeOsdHosts(u, s));
      ctl.hostsFinished();
      await op.step('restore_autoscale', () => restoreAutoscale(u, s));
      await op.step('refresh_state', () => refreshState(u, s));
      return {
        cluster_id: clusterId,
        mode: input.mode,
        target_version: s.schedule.target,
        hosts_total: s.total,
        hosts_done: s.done.length,
        runs,
        ...(s.finished ?? {}),
      };
    },
    compensate: async (o) => {
      if (!p) return [];
      ctl.compensating();
      return undoAll(compensations(u, p), o);
    },
  });
}

/** What every step of one run shares. */
interface Upgrade {
  input: UpgradeClusterRunInput;
  op: OperationTracker;
  ctl: UpgradeControl;
  /** This run's number (1 for the first), carried across continue-as-new. */
  runs: number;
}

/**
 * Progress in units of work: each mgr, each mon and each OSD host counts one (lib/plans/progress.ts),
 * so the mgr/mon phase moves it too. With nothing to do it shows 99 % until the end.
 */
const progressOf = (op: OperationTracker, s: UpgradeProgress) => {
  const units = upgradeUnits(s.schedule);
  op.setProgress(upgradeFraction(units, s.daemonsDone ?? units.mgrs + units.mons, s.done.length) * 100);
};

/** One mgr or mon is at the target: one more unit done. */
const daemonDone = (op: OperationTracker, s: UpgradeProgress) => {
  s.daemonsDone = (s.daemonsDone ?? 0) + 1;
  progressOf(op, s);
};

/** Reads the cluster, plans the upgrade and refuses it if the planner says so. */
async function preflight({ input, op }: Upgrade): Promise<UpgradeProgress> {
  const { clusterId } = input;
  const facts = await act.describeUpgrade.executeWithOptions({ summary: `read ${clusterId} for the upgrade` }, [
    { clusterId },
  ]);
  const { plan, schedule } = upgradePlan(facts, {
    targetVersion: input.targetVersion || null,
    mode: input.mode,
    maxConcurrent: input.maxConcurrent,
    osPackages: input.osPackages,
    skipMaintenance: input.skipMaintenance ?? false,
  });
  const refusal = plan.refusals[0];
  if (refusal) throw ApplicationFailure.nonRetryable(refusal.message, refusal.code);
  op.log(
    `${input.mode === 'restart' ? 'rolling restart' : `upgrade to ${schedule.target}`}: mgr ${[...schedule.mgrStandbys, schedule.mgrActive].filter(Boolean).join(', ') || '(none)'}, mon ${schedule.mons.join(', ') || '(none)'}, ${schedule.hosts.length} OSD host(s), ${plan.batches?.length ?? 0} batch(es) of ≤ ${input.maxConcurrent}`,
  );
  const nooutBefore = facts.nooutHosts ?? [];
  if (nooutBefore.length) op.log(`noout already set on ${nooutBefore.join(', ')} before the upgrade: left as it is`);
  if (schedule.skipped?.length)
    op.log(
      `in maintenance, left as ${schedule.skipped.length === 1 ? 'it is' : 'they are'}: ${schedule.skipped.join(', ')}`,
    );
  return {
    schedule,
    queue: [...schedule.hosts],
    done: [],
    total: schedule.hosts.length,
    daemonsDone: 0,
    froze: false,
    nooutBefore,
  };
}

function freezeAutoscale({ input, op, ctl }: Upgrade, s: UpgradeProgress): Promise<void> {
  return ctl.atSafePoint('freeze PG autoscaling', async () => {
    s.froze = true;
    const r = await act.freezeAutoscale.executeWithOptions(
      { summary: 'freeze PG autoscaling (pool modes recorded, then off)' },
      [{ clusterId: input.clusterId }],
    );
    s.froze = r.changed;
    op.log(
      r.changed
        ? "PG autoscaling frozen (each pool's mode recorded, then off)"
        : 'PG autoscaling was already frozen; it stays frozen at the end',
    );
  });
}

const daemonSpec = (input: UpgradeClusterRunInput, s: UpgradeProgress) => ({
  clusterId: input.clusterId,
  targetVersion: s.schedule.target,
  mode: input.mode,
});

/** Standby mgrs, then a failover, then the old active one. */
async function upgradeMgrs({ input, op, ctl }: Upgrade, s: UpgradeProgress): Promise<void> {
  const spec = daemonSpec(input, s);
  for (const host of s.schedule.mgrStandbys) {
    await ctl.atSafePoint(`mgr.${host}`, async () => {
      const r = await act.redeployCephDaemon.executeWithOptions({ summary: `${input.mode} standby mgr.${host}` }, [
        { ...spec, type: 'mgr', host },
      ]);
      op.log(`mgr.${host} runs ${r.version}`);
    });
    daemonDone(op, s);
  }
  const active = s.schedule.mgrActive;
  if (!active) return;
  await ctl.atSafePoint(`mgr failover from ${active}`, async () => {
    const r = await act.failOverMgr.executeWithOptions({ summary: `ceph mgr fail (${active})` }, [
      { clusterId: input.clusterId, from: active },
    ]);
    op.log(`ceph mgr fail: mgr.${r.active} is active`);
  });
  await ctl.atSafePoint(`mgr.${active}`, async () => {
    const r = await act.redeployCephDaemon.executeWithOptions({ summary: `${input.mode} mgr.${active}` }, [
      { ...spec, type: 'mgr', host: active },
    ]);
    op.log(`mgr.${active} runs ${r.version}`);
  });
  daemonDone(op, s);
}

/** Mons one at a time, each back in quorum before the next. */
async function upgradeMons({ input, op, ctl }: Upgrade, s: UpgradeProgress): Promise<void> {
  const spec = daemonSpec(input, s);
  for (const host of s.schedule.mons) {
    await ctl.atSafePoint(`mon.${host}`, async () => {
      const r = await act.redeployCephDaemon.executeWithOptions(
        { summary: `${input.mode} mon.${host} (ok-to-stop, back in quorum)` },
        [{ ...spec, type: 'mon', host }],
      );
      op.log(`mon.${host} runs ${r.version} and is in quorum`);
    });
    daemonDone(op, s);
  }
}

/**
 * OSD hosts in batches of child workflows; a failed host goes back to the front of the queue and
 * pauses the upgrade. Between batches (a safe point) the run may continue as new.
 */
async function upgradeOsdHosts(u: Upgrade, s: UpgradeProgress): Promise<void> {
  const { input, op, ctl, runs } = u;
  const hostsPerRun = input.hostsPerRun ?? DEFAULT_HOSTS_PER_RUN;
  let startedThisRun = 0;
  while (s.queue.length > 0) {
    await ctl.waitWhilePaused();
    if (startedThisRun >= hostsPerRun || workflowInfo().continueAsNewSuggested) {
      // A safe point with nothing in flight: hand the state to a fresh run.
      await condition(allHandlersFinished);
      op.log(`continuing as new after ${s.done.length}/${s.total} hosts (run ${runs})`);
      await continueAsNew<typeof upgradeClusterWorkflow>({
        ...input,
        carry: { tracker: op.exportState(), progress: s, runs },
      });
    }
    const batch = await formBatch(u, s);
    if (!batch) continue;
    s.queue = s.queue.filter((h) => !batch.includes(h));
    startedThisRun += batch.length;
    op.log(`batch: ${batch.map((h) => h.host).join(', ')}`);
    const results = await Promise.allSettled(batch.map((h) => upgradeOne(input, s, h)));
    const failed: { host: PlannedHost; error: OperationError }[] = [];
    results.forEach((r, i) => {
      const h = batch[i]!;
      if (r.status === 'fulfilled') s.done.push(h.host);
      else failed.push({ host: h, error: describeFailure(r.reason) });
    });
    const cancelled = results.find(
      (r): r is PromiseRejectedResult => r.status === 'rejected' && isCancellation(r.reason),
    );
    progressOf(op, s);
    if (cancelled) throw cancelled.reason;
    if (failed.length > 0) {
      s.queue = [...failed.map((f) => f.host), ...s.queue];
      const first = failed[0]!;
      ctl.pauseFor({
        code: first.error.code,
        message: `Upgrade of ${failed.map((f) => f.host.host).join(', ')} failed: ${first.error.message} Fix the cause, then resume (the host is retried) or cancel.`,
      });
    }
  }
  op.log(`all ${s.total} host(s) done`);
  // Only runs planned with skip_maintenance have skipped hosts (older histories never do), so the
  // branch needs no patch: their daemons stay behind, and require-osd-release would lock them out.
  const skipped = s.schedule.skipped ?? [];
  if (input.mode === 'upgrade' && skipped.length > 0) {
    op.log(
      `ceph osd require-osd-release not set: ${skipped.join(', ')} (in maintenance) still ${skipped.length === 1 ? 'runs' : 'run'} the old release; upgrade again once ${skipped.length === 1 ? 'its' : 'their'} maintenance ends`,
    );
    s.finished = { skipped_hosts: skipped, require_osd_release: null };
  } else if (input.mode === 'upgrade' && patched(FINISH_UPGRADE_PATCH)) await finishUpgrade(u, s);
}

/**
 * After the last OSD host (upgrade mode): every mon, mgr and OSD at the target, then
 * `ceph osd require-osd-release <release>`. A daemon behind fails this step naming it (and the
 * release is not required: an OSD still on the old one could not boot after it). Tentacle's
 * AUTH_INSECURE_* checks stay until an operator rotates the cephx keys (docs/upgrades.md).
 */
async function finishUpgrade({ input, op }: Upgrade, s: UpgradeProgress): Promise<void> {
  const r = await act.finishUpgrade.executeWithOptions(
    { summary: `every daemon at ${s.schedule.target}; ceph osd require-osd-release` },
    [{ clusterId: input.clusterId, targetVersion: s.schedule.target }],
  );
  op.log(`every mon, mgr and OSD runs ${r.version} (${r.daemons} daemons)`);
  op.log(`ceph osd require-osd-release ${r.requireOsdRelease}: set`);
  const release = parseCephVersion(r.requireOsdRelease)?.release;
  // Older recorded results lack the list: then every tentacle upgrade says so.
  const authRemains = r.authInsecureChecks
    ? r.authInsecureChecks.length > 0
    : release !== undefined && isTentacleOrLater(release);
  if (authRemains) {
    op.log(
      `the AUTH_INSECURE_* health checks${r.authInsecureChecks?.length ? ` (${r.authInsecureChecks.join(', ')})` : ''} remain until the cephx keys are rotated to aes256k: an operator step, not part of the upgrade (rotation locks out every client older than Tentacle); see docs/upgrades.md §Tentacle and cephx`,
    );
  }
  s.finished = {
    require_osd_release: r.requireOsdRelease,
    ...(authRemains ? { auth_insecure_checks_remain: true } : {}),
  };
}

async function restoreAutoscale({ input, op }: Upgrade, s: UpgradeProgress): Promise<void> {
  if (!s.froze) {
    op.log('PG autoscaling left frozen, as it was before the upgrade');
    return;
  }
  await act.releaseAutoscale.executeWithOptions({ summary: 'restore PG autoscaling (recorded pool modes)' }, [
    { clusterId: input.clusterId },
  ]);
  s.froze = false;
  op.log('PG autoscaling restored');
}

async function refreshState({ input }: Upgrade, s: UpgradeProgress): Promise<void> {
  const { clusterId } = input;
  // With hosts skipped the cluster still runs the old release too: its recorded version stays.
  if (input.mode === 'upgrade' && !s.schedule.skipped?.length) {
    const release = parseCephVersion(s.schedule.target)?.release;
    if (release)
      await act.recordClusterVersion.executeWithOptions({ summary: `record ceph_version ${release}` }, [
        { clusterId, cephVersion: release },
      ]);
  }
  await act.refreshClusterState.executeWithOptions({ summary: 'record cluster state' }, [{ clusterId }]);
}

/** What a failed or cancelled upgrade undoes, in order. */
function compensations({ input }: Upgrade, s: UpgradeProgress) {
  const { clusterId } = input;
  return [
    {
      // Children unset their own noout on every path; this catches one whose compensation failed.
      // A host that carried noout before the upgrade keeps it: only what the upgrade set is undone.
      what: "unset noout on the upgrade's hosts",
      when: s.schedule.hosts.some((h) => !(s.nooutBefore ?? []).includes(h.host)),
      run: () =>
        act.clearHostNoout.executeWithOptions({ summary: 'unset any noout left on upgrade hosts' }, [
          { clusterId, hosts: s.schedule.hosts.map((h) => h.host).filter((h) => !(s.nooutBefore ?? []).includes(h)) },
        ]),
    },
    {
      what: 'restore PG autoscaling',
      when: s.froze,
      run: () =>
        act.releaseAutoscale.executeWithOptions({ summary: 'restore PG autoscaling (compensation)' }, [{ clusterId }]),
    },
    {
      what: 'record cluster state',
      when: true,
      run: () =>
        act.refreshClusterStateUndo.executeWithOptions({ summary: 'record cluster state (compensation)' }, [
          { clusterId },
        ]),
    },
  ];
}

/**
 * The next batch: the planner's nextBatch, shrunk until `ceph osd ok-to-stop` accepts the union of
 * its OSDs. Null (and the upgrade paused) when not even one host may stop or a gate fails.
 */
async function formBatch({ input, op, ctl }: Upgrade, s: UpgradeProgress): Promise<PlannedHost[] | null> {
  const { clusterId } = input;
  const candidate = nextBatch(s.queue, input.maxConcurrent);
  try {
    await act.assertNotHealthErr.executeWithOptions({ summary: 'cluster not HEALTH_ERR (before the next batch)' }, [
      { clusterId, targetVersion: s.schedule.target },
    ]);
    if (patched(BATCH_OK_TO_STOP_PATCH)) {
      const r = await act.okToStopPrefix.executeWithOptions(
        { summary: `ceph osd ok-to-stop: how many of ${candidate.length} host(s) may stop at once` },
        [{ clusterId, hosts: candidate.map((h) => h.osdIds) }],
      );
      if (r.count >= 1) {
        if (r.count < candidate.length) op.log(`ok-to-stop allows ${r.count} of ${candidate.length} hosts at once`);
        return candidate.slice(0, r.count);
      }
      ctl.pauseFor({
        code: FAILURE.notOkToStop,
        message: `Ceph says the OSDs of ${candidate[0]!.host} are not ok to stop: ${r.reason ?? 'PGs would become inactive'}. Resume once the cluster has recovered.`,
      });
      return null;
    }
    for (let k = candidate.length; k >= 1; k--) {
      const part = candidate.slice(0, k);
      const osdIds = part.flatMap((h) => h.osdIds);
      const verdict = await act.checkOkToStop.executeWithOptions({ summary: `ceph osd ok-to-stop for ${k} host(s)` }, [
        { clusterId, osdIds },
      ]);
      if (verdict.ok) {
        if (k < candidate.length) op.log(`ok-to-stop allows ${k} of ${candidate.length} hosts at once`);
        return part;
      }
      if (k === 1) {
        ctl.pauseFor({
          code: FAILURE.notOkToStop,
          message: `Ceph says the OSDs of ${part[0]!.host} are not ok to stop: ${verdict.reason ?? 'PGs would become inactive'}. Resume once the cluster has recovered.`,
        });
      }
    }
    return null;
  } catch (err) {
    if (isCancellation(err)) throw err;
    const f = describeFailure(err);
    ctl.pauseFor({ code: f.code, message: `Before the next batch: ${f.message}` });
    return null;
  }
}

async function upgradeOne(input: UpgradeClusterRunInput, s: UpgradeProgress, h: PlannedHost): Promise<void> {
  const { clusterId, operationId } = input;
  await executeChild(upgradeHostWorkflow, {
    workflowId: upgradeHostWorkflowId(clusterId, operationId, h.host),
    args: [
      {
        operationId,
        accountId: input.accountId,
        clusterId,
        nodeId: h.nodeId,
        host: h.host,
        osdIds: h.osdIds,
        targetVersion: s.schedule.target,
        mode: input.mode,
        osPackages: input.osPackages,
        monHost: h.mon,
        ...(s.schedule.skippedOsds?.length ? { allowDownOsds: s.schedule.skippedOsds } : {}),
      },
    ],
    // A cancelled upgrade waits for each host to put itself back together (OSDs started, noout unset).
    cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
    // Runs started before clusterName existed keep the summary they recorded (no cluster part).
    staticSummary: `${input.mode === 'restart' ? 'Restart' : `Upgrade to ${s.schedule.target}:`} ${h.host}${input.clusterName ? ` of ${input.clusterName}` : ''} (${h.osdIds.length} OSDs)`,
    typedSearchAttributes: [
      { key: SA_OPERATION_ID, value: operationId },
      { key: SA_OPERATION_TYPE, value: 'cluster.upgrade' },
      { key: SA_CLUSTER_ID, value: clusterId },
      { key: SA_NODE_ID, value: h.nodeId },
      { key: SA_ACCOUNT_ID, value: input.accountId },
    ],
  });
}
