import { ApplicationFailure, isCancellation } from '@temporalio/workflow';
import { act } from './activity-proxies';
import { FAILURE, type EnterMaintenanceInput, type ExitMaintenanceInput } from './contracts';
import { describeFailure, OperationTracker } from './operation-tracker';
import { enterMaintenancePlan, exitMaintenancePlan } from './plans/maintenance.plan';
import { ensureEndsOn } from './power-ends-on';
import { OPERATIONS } from './registry';
import { runOperation, undoAll } from './run-operation';
import { readWaitBounds, serverBound, typedTimeout, type WaitBounds } from './wait-bounds';

/**
 * Maintenance mode (issue 13 #1, docs/operators.md "Maintenance mode"). Entering is one operation and
 * exiting another; between them no workflow runs: the node's status `maintenance` and its
 * node_maintenance record (what entering changed) are the state, in PostgreSQL, so maintenance
 * survives any restart of the API, the worker or Temporal.
 */

/**
 * Enter: ok-to-stop for the host's OSDs, host noout (an operator's noout found set is left to them),
 * OSDs stopped so Ceph marks them down cleanly, optionally powered off (ACPI soft, polled until off),
 * then the node's status `maintenance` with the record, in one transaction. A failure or cancel
 * before that last step undoes what was done: machine on, OSDs started, noout unset.
 */
export async function enterMaintenanceWorkflow(input: EnterMaintenanceInput): Promise<Record<string, unknown>> {
  const op = new OperationTracker(OPERATIONS['maintenance.enter'].steps);
  const { nodeId } = input;
  let clusterId: string | null = null;
  let host = '';
  let osdIds: number[] = [];
  let nooutSet = false;
  let nooutFound = false;
  let osdsStopped = false;
  let powerOffSent = false;
  let offSentAt = 0;
  let bounds: WaitBounds | null = null;
  let restoreOutcome = '';

  return runOperation(input.operationId, op, {
    run: async () => {
      let planned = new Set<string>();
      await op.step('preflight', async () => {
        const node = await act.describeNode.executeWithOptions({ summary: `read node ${nodeId}` }, [{ nodeId }]);
        const refusal = enterMaintenancePlan({ node, osdIds: [] }, input).refusals[0];
        if (refusal) throw ApplicationFailure.nonRetryable(refusal.message, refusal.code);
        host = node.hostname;
        clusterId = node.clusterId;
        op.log(`entering maintenance on ${host}${clusterId ? ` (member of ${clusterId})` : ' (in no cluster)'}`);
        if (clusterId) {
          osdIds = await act.hostOsds.executeWithOptions({ summary: `list OSDs on ${host}` }, [{ clusterId, host }]);
          op.log(`OSDs on ${host}: ${osdIds.length ? osdIds.map((i) => `osd.${i}`).join(', ') : 'none'}`);
          await act.assertOkToStop.executeWithOptions({ summary: `ceph osd ok-to-stop (${host})` }, [
            { clusterId, osdIds },
          ]);
          op.log('ceph osd ok-to-stop: yes');
        }
        planned = new Set(enterMaintenancePlan({ node, osdIds }, input).steps.map((s) => s.name));
      });

      if (planned.has('set_noout')) {
        await op.step('set_noout', async () => {
          nooutFound = await act.hostHasNoout.executeWithOptions({ summary: `is noout already set on ${host}?` }, [
            { clusterId: clusterId!, host },
          ]);
          if (nooutFound) {
            op.log(`noout was already set on ${host} (not by NodeFoundry): it is left set when maintenance ends`);
            return;
          }
          // Marked before the call: if the call succeeds but its reply is lost, compensation still unsets.
          nooutSet = true;
          await act.setHostNoout.executeWithOptions({ summary: `ceph osd set-group noout ${host}` }, [
            { clusterId: clusterId!, host },
          ]);
          op.log(`noout set on ${host} and confirmed in the OSD map`);
        });
      } else op.skip('set_noout', 'node is in no cluster');

      if (planned.has('stop_osds')) {
        await op.step('stop_osds', async () => {
          osdsStopped = true;
          await act.stopOsds.executeWithOptions({ summary: `stop OSDs on ${host}` }, [
            { clusterId: clusterId!, host, osdIds },
          ]);
          op.log(`OSDs stopped and marked down: ${osdIds.map((i) => `osd.${i}`).join(', ')}`);
        });
      } else op.skip('stop_osds', clusterId ? 'no OSDs on this host' : 'node is in no cluster');

      if (planned.has('power_off')) {
        await op.step('power_off', async () => {
          const b = (bounds = await readWaitBounds());
          powerOffSent = true;
          offSentAt = Date.now();
          const r = await act.powerCommand.executeWithOptions({ summary: `BMC chassis power soft (${host})` }, [
            { nodeId, command: 'soft' },
          ]);
          op.log(r.sent ? 'BMC power soft sent' : 'machine was already off');
          await typedTimeout(FAILURE.powerTimeout, `${host} to power off`, () =>
            act.waitForPower.executeWithOptions(
              { summary: `wait for ${host} to power off`, scheduleToCloseTimeout: serverBound(b.powerMs) },
              [{ nodeId, state: 'off' }],
            ),
          );
          op.log('machine is off');
        });
      } else op.skip('power_off', 'power_off was not asked for');

      await op.step('mark_maintenance', async () => {
        await act.recordMaintenance.executeWithOptions({ summary: `mark ${host} in maintenance` }, [
          {
            nodeId,
            record: {
              clusterId,
              hostname: host,
              osdIds,
              nooutSet,
              nooutFound,
              poweredOff: powerOffSent,
              operationId: input.operationId,
            },
            reason: `maintenance entered by operation ${input.operationId}${powerOffSent ? ', powered off' : ''}`,
          },
        ]);
        op.log(`${host} is in maintenance; DELETE /v1/nodes/${nodeId}/maintenance ends it`);
      });
      return {
        node_id: nodeId,
        cluster_id: clusterId,
        osds: osdIds,
        noout_set: nooutSet,
        noout_found: nooutFound,
        powered_off: powerOffSent,
      };
    },

    compensate: async (o) =>
      undoAll(
        [
          {
            what: `power ${host} back on`,
            when: powerOffSent,
            said: () => restoreOutcome,
            run: async () => {
              restoreOutcome = await ensureEndsOn({ host, nodeId, offSentAt, bounds, onFailed: () => undefined });
            },
          },
          {
            what: `start the OSDs on ${host}`,
            when: clusterId !== null && osdsStopped,
            run: async () => {
              await act.startOsdsUndo.executeWithOptions({ summary: `start OSDs on ${host} (compensation)` }, [
                { clusterId: clusterId!, host, osdIds },
              ]);
            },
          },
          {
            what: `unset noout on ${host}`,
            when: clusterId !== null && nooutSet,
            run: () =>
              act.unsetHostNooutUndo.executeWithOptions(
                { summary: `ceph osd unset-group noout ${host} (compensation)` },
                [{ clusterId: clusterId!, host }],
              ),
          },
        ],
        o,
      ),
  });
}

/**
 * Exit: power on (if off), SSH, OSDs started and up, noout unset (only NodeFoundry's), PGs clean, node
 * `online` (`ready` outside a cluster). When the host does not come back within the bounds (dead BMC,
 * no power, no SSH, OSDs that stay down) the exit still ends maintenance: noout is unset so Ceph can
 * recover the host's data elsewhere, the node becomes `offline` (`error` outside a cluster) with the
 * reason, and the operation completes with `host_back: false` and `left` saying what an operator
 * still has to do. A cancelled exit undoes nothing: the node stays in maintenance (record intact)
 * and a new exit finishes the job (each step is idempotent).
 */
export async function exitMaintenanceWorkflow(input: ExitMaintenanceInput): Promise<Record<string, unknown>> {
  const op = new OperationTracker(OPERATIONS['maintenance.exit'].steps);
  const { nodeId } = input;
  let host = '';
  let clusterId: string | null = null;
  let osdIds: number[] = [];
  let nooutSet = false;
  let nooutFound = false;
  const left: string[] = [];
  let downWhy: string | null = null;

  /**
   * Runs a step whose failure means "the host did not come back" rather than a failed exit: the step
   * shows as failed, the reason is kept, the steps that need the host are skipped, the exit goes on.
   */
  const tolerant = async (name: string, fn: () => Promise<void>) => {
    if (downWhy) {
      op.skip(name, `the host did not come back (${downWhy})`);
      return;
    }
    try {
      await op.step(name, fn);
    } catch (err) {
      if (isCancellation(err)) throw err;
      const f = describeFailure(err);
      downWhy = `${name}: ${f.code}: ${f.message}`;
      op.log(`${host} did not come back: ${downWhy}; maintenance ends anyway, see the result`);
    }
  };

  return runOperation(input.operationId, op, {
    run: async () => {
      let planned = new Set<string>();
      let bounds: WaitBounds | null = null;
      await op.step('preflight', async () => {
        const node = await act.describeNode.executeWithOptions({ summary: `read node ${nodeId}` }, [{ nodeId }]);
        const record = await act.describeMaintenance.executeWithOptions({ summary: `read maintenance of ${nodeId}` }, [
          { nodeId },
        ]);
        const plan = exitMaintenancePlan({ node, record });
        const refusal = plan.refusals[0];
        if (refusal || !record) {
          throw ApplicationFailure.nonRetryable(refusal?.message ?? 'not in maintenance', FAILURE.invalidState);
        }
        host = record.hostname;
        clusterId = record.clusterId;
        osdIds = record.osdIds;
        nooutSet = record.nooutSet;
        nooutFound = record.nooutFound;
        bounds = await readWaitBounds();
        planned = new Set(plan.steps.map((s) => s.name));
        op.log(`exiting maintenance on ${host} (entered ${record.enteredAt} by ${record.operationId})`);
      });
      const b = bounds!;

      await tolerant('power_on', async () => {
        const r = await act.powerCommandBounded.executeWithOptions({ summary: `BMC chassis power on (${host})` }, [
          { nodeId, command: 'on' },
        ]);
        op.log(r.sent ? 'BMC power on sent' : 'machine was already on');
        await typedTimeout(FAILURE.powerTimeout, `${host} to power on`, () =>
          act.waitForPower.executeWithOptions(
            { summary: `wait for ${host} to power on`, scheduleToCloseTimeout: serverBound(b.powerMs) },
            [{ nodeId, state: 'on' }],
          ),
        );
        op.log('machine is on');
      });

      await tolerant('wait_ssh', async () => {
        await typedTimeout(FAILURE.sshTimeout, `SSH on ${host}`, () =>
          act.waitForSsh.executeWithOptions(
            { summary: `wait for SSH on ${host}`, scheduleToCloseTimeout: serverBound(b.sshMs) },
            [{ nodeId }],
          ),
        );
        op.log('SSH is back, host key verified');
      });

      if (planned.has('start_osds')) {
        await tolerant('start_osds', async () => {
          await act.startOsds.executeWithOptions({ summary: `start OSDs on ${host}` }, [
            { clusterId: clusterId!, host, osdIds },
          ]);
          op.log(`start sent to ${osdIds.map((i) => `osd.${i}`).join(', ')}`);
        });
        await tolerant('wait_osds_up', async () => {
          await typedTimeout(FAILURE.osdsNotUp, `the OSDs on ${host} to come up`, () =>
            act.waitForOsdsUp.executeWithOptions(
              { summary: `wait for OSDs on ${host}`, scheduleToCloseTimeout: serverBound(b.cephMs) },
              [{ clusterId: clusterId!, osdIds }],
            ),
          );
          op.log('OSDs are up');
        });
      } else {
        const why = clusterId ? 'no OSDs on this host' : 'node is in no cluster';
        op.skip('start_osds', why);
        op.skip('wait_osds_up', why);
      }

      if (!clusterId) op.skip('unset_noout', 'node is in no cluster');
      else if (!nooutSet) {
        op.skip(
          'unset_noout',
          nooutFound
            ? `noout on ${host} was set before maintenance (not by NodeFoundry); left as it was`
            : 'not set by maintenance',
        );
      } else {
        // Also when the host stays down: the operator ends maintenance, so Ceph may recover its data elsewhere.
        await op.step('unset_noout', async () => {
          await act.unsetHostNoout.executeWithOptions({ summary: `ceph osd unset-group noout ${host}` }, [
            { clusterId: clusterId!, host },
          ]);
          op.log(`noout unset on ${host}`);
        });
      }

      if (clusterId && !downWhy) {
        await op.step('wait_clean', async () => {
          const r = await typedTimeout(FAILURE.pgsNotClean, 'PGs active+clean', () =>
            act.waitForPgsClean.executeWithOptions(
              { summary: 'wait for PGs active+clean', scheduleToCloseTimeout: serverBound(b.cephMs) },
              [{ clusterId: clusterId! }],
            ),
          );
          op.log(`all ${r.pgs} PGs active+clean`);
        });
      } else op.skip('wait_clean', clusterId ? `the host did not come back (${downWhy})` : 'node is in no cluster');

      if (downWhy) {
        left.push(`${host} is not back (${downWhy}): bring it up, then the cluster monitor marks it online`);
        if (clusterId && osdIds.length) {
          left.push(
            `${osdIds.map((i) => `osd.${i}`).join(', ')} down: Ceph marks them out after mon_osd_down_out_interval and recovers their data elsewhere`,
          );
        }
      }
      const status = downWhy ? (clusterId ? 'offline' : 'error') : clusterId ? 'online' : 'ready';
      await op.step('clear_maintenance', async () => {
        await act.clearMaintenance.executeWithOptions({ summary: `end maintenance of ${host}` }, [
          { nodeId, status, reason: downWhy ? `left maintenance while down: ${downWhy}` : null },
        ]);
        op.log(`${host} left maintenance: ${status}`);
        for (const l of left) op.log(`left for an operator: ${l}`);
      });
      if (clusterId) {
        // Bookkeeping after maintenance has ended: its failure must not turn a done exit into a failed one.
        try {
          await act.refreshClusterState.executeWithOptions({ summary: 'record cluster state' }, [{ clusterId }]);
        } catch (err) {
          if (isCancellation(err)) throw err;
          op.log(`cluster state not recorded (the monitor's next round does): ${describeFailure(err).message}`);
        }
      }
      return { node_id: nodeId, cluster_id: clusterId, osds: osdIds, host_back: !downWhy, status, left };
    },
    // A cancelled or failed exit leaves the node in maintenance (its record intact): nothing to undo.
    compensate: async (o: OperationTracker) => {
      o.log(`${host || nodeId} stays in maintenance; a new exit (DELETE /v1/nodes/${nodeId}/maintenance) finishes it`);
      return [];
    },
  });
}
