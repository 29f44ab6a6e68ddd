import { ApplicationFailure, CancellationScope, isCancellation, patched } from '@temporalio/workflow';
import { act } from './activity-proxies';
import { FAILURE, type UpgradeHostInput } from './contracts';
import { describeFailure, OperationTracker } from './operation-tracker';
import { ensureEndsOn } from './power-ends-on';
import { undoAll } from './run-operation';
import { readWaitBounds, serverBound, typedTimeout, type WaitBounds } from './wait-bounds';

/**
 * Added after the first histories were recorded (patched() keeps those replaying unchanged): a
 * noout found on the host is left as it was, the reboot's power waits are bounded server-side, and
 * compensation waits for a power-off in flight to complete before powering the machine back on.
 */
const POWER_ENDS_ON = 'upgrade-host-power-ends-on';

export const UPGRADE_HOST_STEPS = [
  'ok_to_stop',
  'set_noout',
  'stop_osds',
  'upgrade_packages',
  'reboot',
  'start_osds',
  'wait_osds_up',
  'unset_noout',
  'wait_clean',
  'verify_version',
] as const;

export interface UpgradeHostResult {
  host: string;
  rebooted: boolean;
  versions: string[];
}

/**
 * One OSD host of a rolling upgrade (a child of upgradeClusterWorkflow, which decides when it may
 * start): ok-to-stop for its OSDs, `set-group noout` asserted, OSDs stopped, packages upgraded (or
 * only restarted), a reboot when the new packages need one (after `mon ok-to-stop` on a mon host),
 * OSDs up, noout unset, all PGs active+clean, the OSDs verified at the target. On failure or cancel
 * the OSDs are started, the machine powered on and noout unset before the child ends; the parent
 * then pauses (failure) or compensates the rest (cancel).
 */
export async function upgradeHostWorkflow(input: UpgradeHostInput): Promise<UpgradeHostResult> {
  const op = new OperationTracker(UPGRADE_HOST_STEPS);
  const { clusterId, host, osdIds, nodeId } = input;
  const hasOsds = osdIds.length > 0;
  const target = { clusterId, targetVersion: input.targetVersion, mode: input.mode };
  let nooutSet = false;
  let osdsStopped = false;
  let powerOffSent = false;
  let poweredOn = false;
  let rebooted = false;
  let offSentAt = 0;
  let bounds: WaitBounds | null = null;
  // The host already carried noout before this step (an operator's): it is left set at the end.
  let nooutFound = false;
  let restoreOutcome = '';
  op.start();

  const waitPower = (state: 'on' | 'off', summary: string) => {
    const b = bounds;
    if (!b) return act.waitForPower.executeWithOptions({ summary }, [{ nodeId, state }]);
    return typedTimeout(FAILURE.powerTimeout, `${host} to power ${state}`, () =>
      act.waitForPower.executeWithOptions({ summary, scheduleToCloseTimeout: serverBound(b.powerMs) }, [
        { nodeId, state },
      ]),
    );
  };

  try {
    if (hasOsds) {
      await op.step('ok_to_stop', async () => {
        await act.assertNotHealthErr.executeWithOptions({ summary: `cluster not HEALTH_ERR (before ${host})` }, [
          { clusterId, targetVersion: input.targetVersion },
        ]);
        await act.assertOkToStop.executeWithOptions({ summary: `ceph osd ok-to-stop ${osdIds.join(' ')} (${host})` }, [
          { clusterId, osdIds },
        ]);
      });
      await op.step('set_noout', async () => {
        if (patched(POWER_ENDS_ON)) {
          nooutFound = await act.hostHasNoout.executeWithOptions({ summary: `is noout already set on ${host}?` }, [
            { clusterId, host },
          ]);
          if (nooutFound) {
            op.log(`noout was already set on ${host} before its upgrade (not by NodeFoundry): it stays set at the end`);
            return;
          }
        }
        // Marked before the call: a lost reply still gets compensated.
        nooutSet = true;
        await act.setHostNoout.executeWithOptions({ summary: `ceph osd set-group noout ${host}` }, [
          { clusterId, host },
        ]);
      });
      await op.step('stop_osds', async () => {
        osdsStopped = true;
        await act.stopOsdsForUpgrade.executeWithOptions({ summary: `stop OSDs on ${host}` }, [
          { clusterId, host, osdIds },
        ]);
      });
    } else {
      for (const s of ['ok_to_stop', 'set_noout', 'stop_osds'] as const) op.skip(s, 'no OSDs on this host');
    }

    const { rebootRequired } = await op.step('upgrade_packages', () =>
      act.upgradeHostPackages.executeWithOptions(
        {
          summary: `${input.mode === 'restart' ? 'restart daemons' : `upgrade Ceph to ${input.targetVersion}`}${input.osPackages ? ' + OS packages' : ''} on ${host}`,
        },
        [{ ...target, host, osPackages: input.osPackages }],
      ),
    );

    if (rebootRequired) {
      await op.step('reboot', async () => {
        if (input.monHost) {
          await act.assertMonOkToStop.executeWithOptions({ summary: `ceph mon ok-to-stop ${host}` }, [
            { clusterId, host },
          ]);
        }
        if (patched(POWER_ENDS_ON)) bounds = await readWaitBounds();
        powerOffSent = true;
        offSentAt = Date.now();
        await act.powerCommandBounded.executeWithOptions(
          { summary: `IPMI chassis power soft (${host}, reboot after upgrade)` },
          [{ nodeId, command: 'soft' }],
        );
        await waitPower('off', `wait for ${host} to power off`);
        await act.powerCommandBounded.executeWithOptions({ summary: `IPMI chassis power on (${host})` }, [
          { nodeId, command: 'on' },
        ]);
        await waitPower('on', `wait for ${host} to power on`);
        poweredOn = true;
        await act.waitForSsh.executeWithOptions({ summary: `wait for SSH on ${host}` }, [{ nodeId }]);
        rebooted = true;
      });
    } else op.skip('reboot', 'the new packages need no reboot');

    if (hasOsds) {
      await op.step('start_osds', () =>
        act.startOsdsAfterUpgrade.executeWithOptions({ summary: `start OSDs on ${host}` }, [
          { clusterId, host, osdIds },
        ]),
      );
      await op.step('wait_osds_up', async () => {
        await act.waitForOsdsUp.executeWithOptions({ summary: `wait for OSDs on ${host} to come up` }, [
          { clusterId, osdIds },
        ]);
        osdsStopped = false;
      });
      if (nooutFound) op.skip('unset_noout', `noout was set on ${host} before its upgrade; left as it was`);
      else {
        await op.step('unset_noout', async () => {
          await act.unsetHostNoout.executeWithOptions({ summary: `ceph osd unset-group noout ${host}` }, [
            { clusterId, host },
          ]);
          nooutSet = false;
        });
      }
      await op.step('wait_clean', () =>
        input.allowDownOsds?.length
          ? act.waitForPgsClean.executeWithOptions(
              { summary: `wait for PGs active, nothing recovering (after ${host}; maintenance OSDs stay down)` },
              [{ clusterId, allowDown: input.allowDownOsds }],
            )
          : act.waitForPgsClean.executeWithOptions({ summary: `wait for PGs active+clean (after ${host})` }, [
              { clusterId },
            ]),
      );
    } else {
      for (const s of ['start_osds', 'wait_osds_up', 'unset_noout', 'wait_clean'] as const)
        op.skip(s, 'no OSDs on this host');
    }
    const { versions } = await op.step('verify_version', () =>
      act.verifyHostVersion.executeWithOptions({ summary: `verify OSD versions on ${host}` }, [{ ...target, host }]),
    );
    const result = { host, rebooted, versions };
    op.complete(result as unknown as Record<string, unknown>);
    op.markRecorded();
    return result;
  } catch (err) {
    let powerOnFailed = false;
    const problems = await CancellationScope.nonCancellable(() =>
      undoAll(
        [
          {
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
              // Bounded like the forward power calls: with the BMC gone this would otherwise retry for
              // half an hour before the upgrade could pause. Resuming retries the host, power-on included.
              await act.powerCommandBounded.executeWithOptions(
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
            // Starting a running OSD is a no-op, so this is safe whatever step failed.
            what: `start the OSDs on ${host}`,
            when: osdsStopped,
            // The machine may be off: starting its OSDs over SSH then gets a bounded try, not half an hour.
            run: () =>
              (powerOnFailed ? act.startOsdsAfterUpgrade : act.startOsdsAfterUpgradeUndo).executeWithOptions(
                { summary: `start OSDs on ${host} (compensation)` },
                [{ clusterId, host, osdIds }],
              ),
          },
          {
            what: `unset noout on ${host}`,
            when: nooutSet,
            run: () =>
              act.unsetHostNooutUndo.executeWithOptions(
                { summary: `ceph osd unset-group noout ${host} (compensation)` },
                [{ clusterId, host }],
              ),
          },
        ],
        op,
      ),
    );
    if (isCancellation(err)) {
      op.cancelled(problems);
      op.markRecorded();
      throw err;
    }
    const why = describeFailure(err);
    const message = `${host}: ${why.message}${problems.length ? ` Compensation incomplete: ${problems.join('; ')}` : ''}`;
    op.fail({ code: why.code, message });
    op.markRecorded();
    throw ApplicationFailure.create({ type: why.code, message, nonRetryable: true });
  }
}
