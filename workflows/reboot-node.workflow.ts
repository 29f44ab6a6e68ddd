import { ApplicationFailure, patched } from '@temporalio/workflow';
import { act } from './activity-proxies';
import { FAILURE, type RebootNodeInput } from './contracts';
import { OperationTracker } from './operation-tracker';
import { rebootPlan } from './plans/reboot-node.plan';
import { ensureEndsOn, stillOffFailure } from './power-ends-on';
import { OPERATIONS } from './registry';
import { runOperation, undoAll } from './run-operation';
import { readWaitBounds, serverBound, typedTimeout, type WaitBounds } from './wait-bounds';

/**
 * Added after the first histories were recorded (patched() keeps those replaying unchanged): the
 * power waits are bounded server-side from the configured bound, a noout found set before the reboot
 * is left as it was, and compensation makes sure the machine ends up on (it waits for a power-off in
 * flight to complete before powering on: a state read mid-shutdown is not the end state).
 */
const POWER_ENDS_ON = 'reboot-power-ends-on';

/**
 * Reboots one node (SPEC §3). For a cluster member: ok-to-stop, host noout set and read back, OSDs
 * stopped so they are marked down cleanly, IPMI power cycle (graceful: soft off, poll, on; hard: off,
 * poll, on — never `reset`), SSH back, OSDs up, noout unset, PGs active+clean. noout is unset on
 * every path out. A node in no cluster is simply power-cycled and waited for.
 */
export async function rebootNodeWorkflow(input: RebootNodeInput): Promise<Record<string, unknown>> {
  const op = new OperationTracker(OPERATIONS['node.reboot'].steps);
  const { nodeId } = input;
  // What the forward path changed, so compensation undoes exactly that.
  let clusterId: string | null = null;
  let host = '';
  let osdIds: number[] = [];
  let nooutSet = false;
  let osdsStopped = false;
  let powerOffSent = false;
  let poweredOn = false;
  // Workflow time when the power-off was sent: compensation waits for it to complete from there.
  let offSentAt = 0;
  let bounds: WaitBounds | null = null;
  // The host already carried noout before this reboot (an operator's): it is left set at the end.
  let nooutFound = false;
  let restoreOutcome = '';

  /** Waits for a power state; with the patch, bounded server-side too and typed when that bound ends it. */
  const waitPower = (state: 'on' | 'off', summary: string) => {
    const b = bounds;
    if (!b) return act.waitForPower.executeWithOptions({ summary }, [{ nodeId, state }]);
    return typedTimeout(FAILURE.powerTimeout, `${host} to power ${state}`, () =>
      act.waitForPower.executeWithOptions({ summary, scheduleToCloseTimeout: serverBound(b.powerMs) }, [
        { nodeId, state },
      ]),
    );
  };

  return runOperation(input.operationId, op, {
    run: async () => {
      let planned = new Set<string>();
      await op.step('preflight', async () => {
        const node = await act.describeNode.executeWithOptions({ summary: `read node ${nodeId}` }, [{ nodeId }]);
        const early = rebootPlan({ node, osdIds: [] }, input);
        const refusal = early.refusals[0];
        if (refusal) throw ApplicationFailure.nonRetryable(refusal.message, refusal.code);
        host = node.hostname;
        clusterId = node.clusterId;
        op.log(`rebooting ${host} (${input.method}${clusterId ? `, member of ${clusterId}` : ', in no cluster'})`);
        if (clusterId) {
          osdIds = await act.hostOsds.executeWithOptions({ summary: `list OSDs on ${host}` }, [{ clusterId, host }]);
          op.log(`OSDs on ${host}: ${osdIds.length ? osdIds.map((i) => `osd.${i}`).join(', ') : 'none'}`);
          await act.assertOkToStop.executeWithOptions({ summary: `ceph osd ok-to-stop (${host})` }, [
            { clusterId, osdIds },
          ]);
          op.log('ceph osd ok-to-stop: yes');
        }
        // The same plan a dry run returns decides which steps run.
        planned = new Set(rebootPlan({ node, osdIds }, input).steps.map((s) => s.name));
      });
      const skipWhy = (name: string) =>
        !clusterId
          ? 'node is in no cluster'
          : !input.drainOsds && name === 'stop_osds'
            ? 'drain_osds is false'
            : 'no OSDs on this host';

      if (planned.has('set_noout')) {
        await op.step('set_noout', async () => {
          if (patched(POWER_ENDS_ON)) {
            nooutFound = await act.hostHasNoout.executeWithOptions({ summary: `is noout already set on ${host}?` }, [
              { clusterId: clusterId!, host },
            ]);
            if (nooutFound) {
              op.log(
                `noout was already set on ${host} before this reboot (not by NodeFoundry): it stays set at the end`,
              );
              return;
            }
          }
          // Marked before the call: if the call succeeds but its reply is lost, compensation still unsets.
          nooutSet = true;
          await act.setHostNoout.executeWithOptions({ summary: `ceph osd set-group noout ${host}` }, [
            { clusterId: clusterId!, host },
          ]);
          op.log(`noout set on ${host} and confirmed in the OSD map`);
        });
      } else op.skip('set_noout', skipWhy('set_noout'));

      if (planned.has('stop_osds')) {
        await op.step('stop_osds', async () => {
          osdsStopped = true;
          await act.stopOsds.executeWithOptions({ summary: `stop OSDs on ${host}` }, [
            { clusterId: clusterId!, host, osdIds },
          ]);
          op.log(`OSDs stopped and marked down: ${osdIds.map((i) => `osd.${i}`).join(', ')}`);
        });
      } else op.skip('stop_osds', skipWhy('stop_osds'));

      await op.step('power_off', async () => {
        if (patched(POWER_ENDS_ON)) bounds = await readWaitBounds();
        powerOffSent = true;
        offSentAt = Date.now();
        const command = input.method === 'graceful' ? 'soft' : 'off';
        const r = await act.powerCommand.executeWithOptions({ summary: `IPMI chassis power ${command} (${host})` }, [
          { nodeId, command },
        ]);
        op.log(r.sent ? `IPMI power ${command} sent` : 'machine was already off');
        await waitPower('off', `wait for ${host} to power off`);
        op.log('machine is off');
      });

      await op.step('power_on', async () => {
        await act.powerCommand.executeWithOptions({ summary: `IPMI chassis power on (${host})` }, [
          { nodeId, command: 'on' },
        ]);
        await waitPower('on', `wait for ${host} to power on`);
        poweredOn = true;
        op.log('machine is on');
      });

      await op.step('wait_ssh', async () => {
        const summary = `wait for SSH on ${host}`;
        const b = bounds;
        if (b) {
          await typedTimeout(FAILURE.sshTimeout, `SSH on ${host}`, () =>
            act.waitForSsh.executeWithOptions({ summary, scheduleToCloseTimeout: serverBound(b.sshMs) }, [{ nodeId }]),
          );
        } else await act.waitForSsh.executeWithOptions({ summary }, [{ nodeId }]);
        op.log('SSH is back, host key verified');
      });

      if (planned.has('wait_osds_up')) {
        await op.step('wait_osds_up', async () => {
          const summary = `wait for OSDs on ${host}`;
          const b = bounds;
          if (b) {
            await typedTimeout(FAILURE.osdsNotUp, `the OSDs on ${host} to come up`, () =>
              act.waitForOsdsUp.executeWithOptions({ summary, scheduleToCloseTimeout: serverBound(b.cephMs) }, [
                { clusterId: clusterId!, osdIds },
              ]),
            );
          } else await act.waitForOsdsUp.executeWithOptions({ summary }, [{ clusterId: clusterId!, osdIds }]);
          osdsStopped = false;
          op.log('OSDs are up');
        });
      } else op.skip('wait_osds_up', skipWhy('wait_osds_up'));

      if (planned.has('unset_noout') && nooutFound) {
        op.skip('unset_noout', `noout was set on ${host} before this reboot; left as it was`);
      } else if (planned.has('unset_noout')) {
        await op.step('unset_noout', async () => {
          await act.unsetHostNoout.executeWithOptions({ summary: `ceph osd unset-group noout ${host}` }, [
            { clusterId: clusterId!, host },
          ]);
          nooutSet = false;
          op.log(`noout unset on ${host}`);
        });
      } else op.skip('unset_noout', skipWhy('unset_noout'));

      if (planned.has('wait_clean')) {
        await op.step('wait_clean', async () => {
          const summary = 'wait for PGs active+clean';
          const b = bounds;
          const r = b
            ? await typedTimeout(FAILURE.pgsNotClean, 'PGs active+clean', () =>
                act.waitForPgsClean.executeWithOptions({ summary, scheduleToCloseTimeout: serverBound(b.cephMs) }, [
                  { clusterId: clusterId! },
                ]),
              )
            : await act.waitForPgsClean.executeWithOptions({ summary }, [{ clusterId: clusterId! }]);
          op.log(`all ${r.pgs} PGs active+clean`);
        });
      } else op.skip('wait_clean', skipWhy('wait_clean'));
      // Added after the first histories were recorded: patched() keeps those replaying unchanged.
      if (clusterId && patched('reboot-refreshes-cluster-state')) {
        await act.refreshClusterState.executeWithOptions({ summary: 'record cluster state' }, [{ clusterId }]);
      }
      return { node_id: nodeId, method: input.method, osds: osdIds };
    },

    compensate: async (o) => {
      const cid = clusterId;
      // The machine may be off: starting its OSDs over SSH then gets a bounded try, not half an hour.
      let powerOnFailed = false;
      return undoAll(
        [
          {
            // A cancelled or failed reboot must not leave the machine off.
            what: `power ${host} back on`,
            when: powerOffSent && !poweredOn,
            said: () => restoreOutcome,
            run: async () => {
              if (patched(POWER_ENDS_ON)) {
                restoreOutcome = await ensureEndsOn({
                  host,
                  nodeId,
                  offSentAt,
                  bounds,
                  onFailed: () => (powerOnFailed = true),
                });
                return;
              }
              // Added after the first histories were recorded (they replay the unbounded path below).
              // Bounded like the upgrade's host step: with the BMC dead the compensation preset retried
              // for ~35 min before noout could be unset; now noout follows within the power wait bound.
              if (patched('reboot-bounded-power-on-compensation')) {
                try {
                  await act.powerCommandBounded.executeWithOptions(
                    { summary: `IPMI chassis power on (${host}, compensation)` },
                    [{ nodeId, command: 'on' }],
                  );
                  await act.waitForPower.executeWithOptions(
                    { summary: `wait for ${host} to power on (compensation)` },
                    [{ nodeId, state: 'on' }],
                  );
                } catch (err) {
                  powerOnFailed = true;
                  throw stillOffFailure(host, err);
                }
                return;
              }
              await act.powerCommandUndo.executeWithOptions(
                { summary: `IPMI chassis power on (${host}, compensation)` },
                [{ nodeId, command: 'on' }],
              );
              await act.waitForPowerUndo.executeWithOptions(
                { summary: `wait for ${host} to power on (compensation)` },
                [{ nodeId, state: 'on' }],
              );
            },
          },
          {
            // Starting a running OSD is a no-op, so this is safe after a completed power cycle too.
            what: `start the OSDs on ${host}`,
            when: cid !== null && osdsStopped,
            run: () =>
              (powerOnFailed ? act.startOsds : act.startOsdsUndo).executeWithOptions(
                { summary: `start OSDs on ${host} (compensation)` },
                [{ clusterId: cid!, host, osdIds }],
              ),
          },
          {
            what: `unset noout on ${host}`,
            when: cid !== null && nooutSet,
            run: () =>
              act.unsetHostNooutUndo.executeWithOptions(
                { summary: `ceph osd unset-group noout ${host} (compensation)` },
                [{ clusterId: cid!, host }],
              ),
          },
        ],
        o,
      );
    },
  });
}
