import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  isClusterStatus,
  type Operation,
  type OperationChange,
  type OperationLog,
  type OperationStep,
} from '../db/database';
import { getClusterById } from '../db/repositories/clusters.repository';
import { getNodeById } from '../db/repositories/nodes.repository';
import { getOperationById, listOpenOperations, OPEN_STATUSES } from '../db/repositories/operations.repository';
import { getPoolById } from '../db/repositories/pools.repository';
import * as changes from '../db/repositories/operation-changes.repository';
import { endUnstartedOperation } from '../db/repositories/start-undo.repository';
import { getOperationQuery, type OperationSnapshot } from '../workflows/contracts';
import type { ActivityDeps } from './deps';
import { createCephActivities } from './ceph.activities';
import { createClusterActivities } from './clusters.activities';
import { createImportActivities } from './import.activities';
import { createLifecycleActivities } from './lifecycle.activities';
import { createNodeActivities } from './nodes.activities';
import { createPoolActivities } from './pools.activities';
import { createPowerActivities } from './power.activities';
import { createReweightActivities } from './reweight.activities';
import { createUpgradeActivities } from './upgrade.activities';
import { bmcTarget, cephFor, driversFor, loadNode } from './targets';

/** The error code of an operation the settler finished (its workflow closed without recording its end). */
export const WORKFLOW_CLOSED = 'workflow_closed';

/** Open operations read per page; every open operation is examined each run (long-running ones must not hide the rest). */
const PAGE = 200;
/** At most this many settled per run; the next run takes the rest. */
const MAX_FOUND = 100;
/** How long the settler waits for Temporal to answer one call (describe, query, list). */
const TEMPORAL_CALL_MS = 5_000;
/** The settler's bound on OSDs coming up (at most the configured Ceph wait): one stuck host must not hold up the rest. */
const OSD_WAIT_MAX_MS = 10 * 60_000;

export interface SettleOutcome {
  operation_id: string;
  settled: boolean;
  /** Why nothing was done (still running, already ended), when settled is false. */
  why?: string;
  repaired: string[];
  left: string[];
}

interface WorkflowFate {
  /** Temporal's status name (TERMINATED, TIMED_OUT, …), or null when Temporal has no such workflow. */
  status: string | null;
  closeTime: Date | null;
}

function clientOf(): Client {
  return Context.current().client;
}

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Called outside an activity (tests calling the function directly): nothing to report to.
  }
}

async function bounded<T>(client: Client, fn: () => Promise<T>): Promise<T> {
  return client.connection.withDeadline(Date.now() + TEMPORAL_CALL_MS, fn);
}

/** RUNNING, a closed status, or null when Temporal does not know the workflow (never started, or past retention). */
async function fateOf(client: Client, workflowId: string): Promise<WorkflowFate> {
  try {
    const d = await bounded(client, () => client.workflow.getHandle(workflowId).describe());
    return { status: d.status.name, closeTime: d.closeTime ?? null };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { status: null, closeTime: null };
    throw err;
  }
}

/** Whether the operation is the settler's: its workflow closed, or it has none and the grace period passed. */
function unsettled(op: Operation, fate: WorkflowFate, graceMs: number, now: number): boolean {
  if (fate.status === 'RUNNING') return false;
  // A closed workflow records its own end before it closes: a row still open after it closed is ours at once.
  return fate.status === null ? now - op.created_at.getTime() >= graceMs : true;
}

export function createSettleActivities(deps: ActivityDeps) {
  const power = createPowerActivities(deps);
  const ceph = createCephActivities(deps);
  const upgrade_ = createUpgradeActivities(deps);
  const reweight = createReweightActivities(deps);
  const lifecycle = createLifecycleActivities(deps);
  const imports = createImportActivities(deps);
  const pools = createPoolActivities(deps);
  const nodes = createNodeActivities(deps);
  const clusters = createClusterActivities(deps);

  /**
   * Powers a machine on after this operation's soft or hard off. A soft off that is still in flight
   * reads "on" while the OS halts, and `chassis power on` then does nothing: so the state is only
   * trusted once it has stayed "on" past the power wait bound counted from the command, or once
   * the machine went off (and was then powered on here).
   */
  async function powerBackOn(c: OperationChange): Promise<string> {
    const node = await loadNode(deps, c.subject);
    const drv = driversFor(deps, node).power;
    const bmc = bmcTarget(deps, node);
    const settleBy = c.created_at.getTime() + deps.config.waits.powerMs;
    let state = await drv.status(bmc);
    if (state === 'on' && c.details.command === 'soft') {
      while (state === 'on' && Date.now() < settleBy) {
        heartbeat({ waiting: `${node.hostname}: soft power-off in flight` });
        await new Promise((r) => setTimeout(r, deps.config.pollIntervalMs));
        state = await drv.status(bmc);
      }
    }
    if (state === 'on') return `${node.hostname} is on (it never went off)`;
    await power.powerCommand({ nodeId: node.id, command: 'on' });
    await power.waitForPower({ nodeId: node.id, state: 'on' });
    return `powered ${node.hostname} back on`;
  }

  /** Starts the OSDs and waits (bounded) until Ceph reports them up. */
  async function startAndWait(clusterId: string, host: string, osdIds: number[], upgrade: boolean): Promise<void> {
    if (upgrade) await upgrade_.startOsdsAfterUpgrade({ clusterId, host, osdIds });
    else await ceph.startOsds({ clusterId, host, osdIds });
    const driver = await cephFor(deps, clusterId);
    const deadline = Date.now() + Math.min(deps.config.waits.cephMs, OSD_WAIT_MAX_MS);
    for (;;) {
      const osds = (await driver.osds()).filter((o) => osdIds.includes(o.id));
      const down = osdIds.filter((id) => !osds.some((o) => o.id === id && o.up));
      if (down.length === 0) return;
      if (Date.now() > deadline) throw new Error(`${down.map((i) => `osd.${i}`).join(', ')} still down`);
      heartbeat({ waiting: `OSDs on ${host} to come up` });
      await new Promise((r) => setTimeout(r, deps.config.pollIntervalMs));
    }
  }

  /** The undo of one open ledger entry; returns what was done, throws what could not be. */
  async function undoChange(
    op: Operation,
    c: OperationChange,
    all: OperationChange[],
    hostsOff: Set<string>,
  ): Promise<{ state: 'undone' | 'kept' | 'left'; note: string }> {
    const d = c.details;
    const clusterId = typeof d.cluster_id === 'string' ? d.cluster_id : '';
    const host = typeof d.host === 'string' ? d.host : '';
    switch (c.kind as changes.ChangeKind) {
      case 'power_off_sent':
        return { state: 'undone', note: await powerBackOn(c) };
      case 'power_on_sent': {
        // As the creation's own compensation: a machine it powered on goes back off only if Ceph never reached it.
        const installed = all.some((x) => x.kind === 'ceph_installed');
        if (op.type !== 'cluster.create' || installed)
          return { state: 'kept', note: `${String(d.hostname ?? c.subject)} stays on` };
        await power.powerCommand({ nodeId: c.subject, command: 'off' });
        return {
          state: 'undone',
          note: `powered ${String(d.hostname ?? c.subject)} off again (the creation had powered it on)`,
        };
      }
      case 'osds_stopped': {
        const osdIds = Array.isArray(d.osd_ids) ? d.osd_ids.filter((x): x is number => typeof x === 'number') : [];
        // A host that could not be powered on cannot start anything: say so at once, go on to noout.
        if (hostsOff.has(host))
          return {
            state: 'left',
            note: `the OSDs ${osdIds.map((i) => `osd.${i}`).join(', ')} on ${host} stay down while it is off: ${recoveryFor(c)}`,
          };
        await startAndWait(clusterId, host, osdIds, d.upgrade === true);
        return {
          state: 'undone',
          note: `started ${osdIds.map((i) => `osd.${i}`).join(', ') || 'the OSDs'} on ${host} (up)`,
        };
      }
      case 'noout_host':
        if (d.was_set_before === true)
          return { state: 'kept', note: `noout on ${host} was set before the operation; left as it was` };
        await ceph.unsetHostNoout({ clusterId, host });
        return { state: 'undone', note: `unset noout on ${host}` };
      case 'crush_weight': {
        const original = Number(d.original);
        const osdId = Number(d.osd_id);
        // A weight set after a disk replacement recreated the OSD is the new disk's: the recorded
        // original was the old disk's, so it stays (the replacement's own cancel keeps it too).
        const recreated = all.some(
          (x) =>
            x.kind === 'osd_destroyed' &&
            x.subject === c.subject &&
            x.state === 'undone' &&
            Number(x.id) < Number(c.id),
        );
        if (recreated)
          return {
            state: 'kept',
            note: `osd.${osdId} was recreated on its new disk; the CRUSH weight set for that disk stays`,
          };
        await reweight.setCrushWeight({ clusterId, osdId, weight: original });
        return {
          state: 'undone',
          note: `restored the CRUSH weight of osd.${osdId} to ${original} (recorded before the change)`,
        };
      }
      case 'autoscale_frozen':
        await upgrade_.releaseAutoscale({ clusterId: c.subject });
        return { state: 'undone', note: 'unfroze PG autoscaling (pool modes restored)' };
      case 'ceph_installed':
        return {
          state: 'left',
          note: `Ceph was being installed on the nodes of ${c.subject}: delete the cluster (DELETE /v1/clusters/${c.subject}) to wipe and release them`,
        };
      case 'ceph_removal_started':
        return { state: 'left', note: `Ceph was partly removed from ${c.subject}: delete the cluster again to finish` };
      case 'osd_destroyed':
        return {
          state: 'left',
          note: `${String(c.subject.split('/').pop())} is left destroyed ${destroyedRecovery(c)}`,
        };
      default:
        return { state: 'left', note: `unknown change ${c.kind} on ${c.subject}: check it by hand` };
    }
  }

  /**
   * What the operation's own compensation does to the rows its API request wrote, when they are
   * still transitional. For a started operation only: one that never started ends through
   * endUnstartedOperation, which undoes its create step.
   */
  async function settleRows(op: Operation, all: OperationChange[], how: string): Promise<string[]> {
    const done: string[] = [];
    const params = op.params;
    if (
      op.cluster_id &&
      (op.type === 'cluster.create' || op.type === 'cluster.import' || op.type === 'cluster.delete')
    ) {
      const c = await getClusterById(deps.db, op.cluster_id);
      if (op.type === 'cluster.create' && c?.status === 'CREATING') {
        const release = !all.some((x) => x.kind === 'ceph_installed');
        const reason = `creation ${how}${release ? '; nothing was installed, the nodes were released' : '; delete the cluster to wipe and release its nodes'}`;
        await lifecycle.failClusterCreate({ clusterId: op.cluster_id, reason, release });
        done.push(
          release
            ? 'cluster ERROR, nodes released to ready'
            : 'cluster ERROR, nodes kept as members in error (delete the cluster to wipe them)',
        );
      } else if (op.type === 'cluster.import' && c?.status === 'IMPORTING') {
        const r = await imports.undoClusterImport({ clusterId: op.cluster_id });
        done.push(`cluster record removed, ${r.released} node(s) released to ready (nothing was changed on Ceph)`);
      } else if (op.type === 'cluster.delete' && c?.status === 'DELETING') {
        const destroyed = all.some((x) => x.kind === 'ceph_removal_started');
        const before = isClusterStatus(params.previous_status) ? params.previous_status : 'ERROR';
        await lifecycle.setClusterStatus(
          destroyed
            ? {
                clusterId: op.cluster_id,
                status: 'ERROR',
                reason: `deletion ${how}; Ceph was partly removed: delete it again`,
              }
            : { clusterId: op.cluster_id, status: before, reason: `deletion ${how}; nothing was removed` },
        );
        done.push(destroyed ? 'cluster ERROR (partly deleted: delete it again)' : `cluster back to ${before}`);
      }
    }
    if (op.type === 'cluster.expand' && op.cluster_id && Array.isArray(params.node_ids)) {
      // Its nodes were claimed (provisioning) by the expansion; whether Ceph got as far as adding
      // them is not recorded, so they stay members, online, saying what to check. Weights the
      // expansion raised were put back to 0 above, from the change ledger.
      for (const id of params.node_ids) {
        if (typeof id !== 'string') continue;
        const n = await getNodeById(deps.db, id);
        if (n?.cluster_id === op.cluster_id && n.status === 'provisioning') {
          await nodes.setNodeStatus({
            nodeId: id,
            status: 'online',
            reason: `expansion ${how}: check whether the cluster lists ${n.hostname} (ceph osd tree); any OSDs of it are at CRUSH weight 0`,
          });
          done.push(`${n.hostname} left a member of the cluster, online (was provisioning)`);
        }
      }
    }
    if (op.type === 'node.register' && op.node_id) {
      const n = await getNodeById(deps.db, op.node_id);
      if (n?.status === 'pending') {
        await nodes.setNodeStatus({
          nodeId: op.node_id,
          status: 'error',
          reason: `registration ${how}: delete the node and register it again`,
        });
        done.push('node marked error (registration did not finish)');
      }
    }
    if ((op.type === 'pool.create' || op.type === 'pool.delete') && typeof params.pool_id === 'string') {
      const poolId = params.pool_id;
      const p = await getPoolById(deps.db, poolId);
      if (op.type === 'pool.create' && p?.status === 'creating') {
        await pools.setPoolRow({
          poolId,
          status: 'error',
          reason: `creation ${how}; delete the pool to remove what was made`,
        });
        done.push('pool marked error (delete it to remove what was made)');
      } else if (op.type === 'pool.delete' && p?.status === 'deleting') {
        await pools.setPoolRow({ poolId, status: 'error', reason: `deletion ${how}: delete it again` });
        done.push('pool marked error (delete it again)');
      }
    }
    return done;
  }

  /** Terminates an upgrade's host children still running after their parent closed: none may keep restarting hosts. */
  async function stopChildren(client: Client, op: Operation, all: OperationChange[]): Promise<string[]> {
    const ids = new Set(all.map((c) => c.workflow_id).filter((w) => w !== op.workflow_id));
    try {
      const q = `NfOperationId = "${op.id.replace(/[^A-Za-z0-9_]/g, '')}" AND ExecutionStatus = "Running"`;
      await bounded(client, async () => {
        for await (const w of client.workflow.list({ query: q }))
          if (w.workflowId !== op.workflow_id) ids.add(w.workflowId);
      });
    } catch (err) {
      deps.logger.warn('settler: listing child workflows failed; using the ledger only', {
        operation_id: op.id,
        err: String(err),
      });
    }
    const stopped: string[] = [];
    for (const id of ids) {
      const fate = await fateOf(client, id);
      if (fate.status !== 'RUNNING') continue;
      await bounded(client, () =>
        client.workflow.getHandle(id).terminate('its operation was settled: the parent workflow had closed'),
      );
      stopped.push(`terminated child workflow ${id}`);
    }
    return stopped;
  }

  /** The steps and logs the closed workflow last had (a closed workflow still answers queries), else the row's. */
  async function lastSnapshot(
    client: Client,
    op: Operation,
    fate: WorkflowFate,
  ): Promise<{ steps: OperationStep[]; logs: OperationLog[]; progress: number; startedAt: string | null }> {
    const fallback = {
      steps: op.steps,
      logs: op.logs,
      progress: op.progress,
      startedAt: op.started_at?.toISOString() ?? null,
    };
    if (fate.status === null) return fallback;
    try {
      const s: OperationSnapshot = await bounded(client, () =>
        client.workflow.getHandle(op.workflow_id).query(getOperationQuery),
      );
      return { steps: s.steps, logs: s.logs, progress: s.progress, startedAt: s.started_at ?? fallback.startedAt };
    } catch (err) {
      deps.logger.debug('settler: no snapshot from the closed workflow', { operation_id: op.id, err: String(err) });
      return fallback;
    }
  }

  return {
    /**
     * Operations the settler must finish: not ended in PostgreSQL, while Temporal says their workflow
     * closed (terminated, timed out, …) or has none past the grace period (never started, or gone).
     */
    async findUnsettledOperations(input: { accountId?: string | null }): Promise<string[]> {
      const client = clientOf();
      const found: string[] = [];
      const now = Date.now();
      let after = '';
      while (found.length < MAX_FOUND) {
        const rows = await listOpenOperations(deps.db, { accountId: input.accountId, after, limit: PAGE });
        for (const op of rows) {
          heartbeat({ examined: op.id });
          try {
            if (unsettled(op, await fateOf(client, op.workflow_id), deps.config.settle.graceMs, now)) found.push(op.id);
          } catch (err) {
            deps.logger.warn('settler: describe failed; the next run retries', {
              operation_id: op.id,
              err: String(err),
            });
          }
          if (found.length >= MAX_FOUND) break;
        }
        if (rows.length < PAGE) break;
        after = rows[rows.length - 1]!.id;
      }
      return found;
    },

    /**
     * Settles one operation whose workflow closed without recording its end: stops its child
     * workflows, undoes every change its ledger still holds open (newest first), puts the rows its
     * request wrote back the way its compensation would, then ends it (failed, or cancelled when
     * Temporal says so) with an error naming what was repaired and what is left, and releases its
     * locks. Never touches an operation that ended or whose workflow runs.
     */
    async settleOperation(input: { operationId: string }): Promise<SettleOutcome> {
      const client = clientOf();
      const op = await getOperationById(deps.db, input.operationId);
      const outcome: SettleOutcome = { operation_id: input.operationId, settled: false, repaired: [], left: [] };
      if (!op) return { ...outcome, why: 'no such operation' };
      if (!(OPEN_STATUSES as readonly string[]).includes(op.status)) return { ...outcome, why: `already ${op.status}` };
      const fate = await fateOf(client, op.workflow_id);
      if (!unsettled(op, fate, deps.config.settle.graceMs, Date.now()))
        return { ...outcome, why: fate.status === 'RUNNING' ? 'its workflow is running' : 'within the grace period' };

      const when = fate.closeTime ? ` at ${fate.closeTime.toISOString()}` : '';
      const how = fate.status
        ? `ended as ${fate.status}${when} outside NodeFoundry`
        : op.run_id
          ? 'is gone from Temporal'
          : 'was never started';
      const all = await changes.changesOf(deps.db, op.id);
      const started = fate.status !== null || op.run_id !== null || all.length > 0;
      if (!started) {
        // Same end as the API's own start-failure path (code not_started): nothing was changed.
        const r = await endUnstartedOperation(deps.db, op.id, { log: 'settler: the workflow was never started' });
        return { ...outcome, settled: r.ended, repaired: r.undone, ...(r.ended ? {} : { why: 'it ended meanwhile' }) };
      }

      outcome.repaired.push(...(await stopChildren(client, op, all)));
      // Children may have recorded changes until they were stopped.
      const open = (await changes.openChanges(deps.db, op.id)).reverse();
      const everything = await changes.changesOf(deps.db, op.id);
      const hostsOff = new Set<string>();
      for (const c of open) {
        heartbeat({ undoing: c.id });
        try {
          const r = await undoChange(op, c, everything, hostsOff);
          await changes.closeChange(deps.db, c.id, r.state, `settler: ${r.note}`);
          (r.state === 'left' ? outcome.left : outcome.repaired).push(r.note);
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          if (c.kind === 'power_off_sent' && typeof c.details.hostname === 'string') hostsOff.add(c.details.hostname);
          const note = `${describeChange(c)} failed (${why.replace(/\.$/, '')}): ${recoveryFor(c)}`;
          await changes.closeChange(deps.db, c.id, 'left', `settler: ${note}`);
          outcome.left.push(note);
        }
      }
      try {
        outcome.repaired.push(...(await settleRows(op, everything, how.replace(/ outside NodeFoundry$/, ''))));
      } catch (err) {
        outcome.left.push(
          `the operation's records could not be put back: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      if (op.cluster_id && everything.length > 0 && op.type !== 'cluster.delete') {
        // Best effort: the recorded OSD rows show the repaired weights and states.
        await clusters.refreshClusterState({ clusterId: op.cluster_id }).catch(() => undefined);
      }

      const snap = await lastSnapshot(client, op, fate);
      const now = new Date().toISOString();
      const steps = snap.steps.map((s) =>
        s.status === 'in_progress'
          ? { ...s, status: 'failed' as const, finished_at: now }
          : s.status === 'pending'
            ? { ...s, status: 'skipped' as const }
            : s,
      );
      const logs: OperationLog[] = [
        ...snap.logs,
        { timestamp: now, message: `settler: the workflow ${how}; its own compensation did not run` },
        ...outcome.repaired.map((m) => ({ timestamp: now, message: `settler: repaired: ${m}` })),
        ...outcome.left.map((m) => ({ timestamp: now, message: `settler: left for an operator: ${m}` })),
      ];
      const message =
        `The workflow ${how}, so its own compensation did not run; NodeFoundry's settler finished the operation. ` +
        (outcome.repaired.length
          ? `Repaired: ${outcome.repaired.join('; ')}. `
          : open.length === 0
            ? 'It had changed nothing that needed undoing. '
            : '') +
        (outcome.left.length
          ? `Left for an operator: ${outcome.left.map((m) => m.replace(/\.$/, '')).join('; ')}.`
          : 'Nothing is left for an operator.');
      const wrote = await changes.finishIfOpen(deps.db, op.id, {
        status: fate.status === 'CANCELLED' ? 'cancelled' : 'failed',
        progress: snap.progress,
        current_step: null,
        steps,
        logs,
        error: { code: WORKFLOW_CLOSED, message },
        started_at: snap.startedAt,
        completed_at: (fate.closeTime ?? new Date()).toISOString(),
      });
      deps.logger.info('settler: operation settled', {
        operation_id: op.id,
        wrote,
        repaired: outcome.repaired.length,
        left: outcome.left.length,
      });
      return { ...outcome, settled: wrote, ...(wrote ? {} : { why: 'it ended meanwhile' }) };
    },
  };
}

function describeChange(c: OperationChange): string {
  const d = c.details;
  switch (c.kind) {
    case 'power_off_sent':
      return `powering ${String(d.hostname ?? c.subject)} back on`;
    case 'power_on_sent':
      return `powering ${String(d.hostname ?? c.subject)} off`;
    case 'osds_stopped':
      return `starting the OSDs on ${String(d.host)}`;
    case 'noout_host':
      return `unsetting noout on ${String(d.host)}`;
    case 'crush_weight':
      return `restoring the CRUSH weight of osd.${String(d.osd_id)} to ${String(d.original)}`;
    case 'autoscale_frozen':
      return 'unfreezing PG autoscaling';
    case 'osd_destroyed':
      return `osd.${String(d.osd_id)} destroyed by the disk replacement`;
    default:
      return `${c.kind} on ${c.subject}`;
  }
}

/** The operator's recovery action for a change the settler could not undo (docs/operators.md). */
export function recoveryFor(c: OperationChange): string {
  const d = c.details;
  switch (c.kind) {
    case 'power_off_sent':
      return `Power ${String(d.hostname ?? c.subject)} on by hand (ipmitool chassis power on) once its BMC answers.`;
    case 'power_on_sent':
      return `Power ${String(d.hostname ?? c.subject)} off by hand if it should be off.`;
    case 'osds_stopped':
      return `Start them by hand on ${String(d.host)} (systemctl start ceph-osd@<id>, or ceph orch daemon start osd.<id>).`;
    case 'noout_host':
      return `Run ceph osd unset-group noout ${String(d.host)} once the host is back.`;
    case 'crush_weight':
      return `Run ceph osd crush reweight osd.${String(d.osd_id)} ${String(d.original)}.`;
    case 'autoscale_frozen':
      return 'Run ceph osd pool unset noautoscale.';
    case 'osd_destroyed':
      return `osd.${String(d.osd_id)} is left destroyed ${destroyedRecovery(c)}`;
    default:
      return 'Check it by hand.';
  }
}

/** What is left after a disk replacement stopped between `ceph osd destroy` and the recreate, and how to finish. */
function destroyedRecovery(c: OperationChange): string {
  const d = c.details;
  return (
    `(id and CRUSH position kept, down and out, no data on it${typeof d.host === 'string' ? `, host ${d.host}` : ''}): ` +
    `POST /v1/clusters/${String(d.cluster_id)}/osds/${String(d.osd_id)}/replace again to recreate it on a working device ` +
    `(it skips to recreate), or remove it for good with ceph osd purge ${String(d.osd_id)} --yes-i-really-mean-it.`
  );
}
