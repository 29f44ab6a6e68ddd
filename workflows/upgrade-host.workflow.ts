import { ApplicationFailure, CancellationScope, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { boundedPowerCommand, boundedWait, compensation, hardwareCommand } from './activity-options';
import type { UpgradeHostInput } from './contracts';
import { describeFailure, OperationTracker } from './operation-tracker';
import { undoAll } from './run-operation';

const hw = proxyActivities<Activities>(hardwareCommand);
// A failed host pauses the whole upgrade and an operator decides: a dead BMC must say so in seconds.
const power = proxyActivities<Activities>(boundedPowerCommand);
const wait = proxyActivities<Activities>(boundedWait);
const undo = proxyActivities<Activities>(compensation);

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
  op.start();

  try {
    if (hasOsds) {
      await op.step('ok_to_stop', async () => {
        await hw.assertNotHealthErr.executeWithOptions({ summary: `cluster not HEALTH_ERR (before ${host})` }, [{ clusterId }]);
        await hw.assertOkToStop.executeWithOptions({ summary: `ceph osd ok-to-stop ${osdIds.join(' ')} (${host})` }, [{ clusterId, osdIds }]);
      });
      await op.step('set_noout', async () => {
        // Marked before the call: a lost reply still gets compensated.
        nooutSet = true;
        await hw.setHostNoout.executeWithOptions({ summary: `ceph osd set-group noout ${host}` }, [{ clusterId, host }]);
      });
      await op.step('stop_osds', async () => {
        osdsStopped = true;
        await wait.stopOsdsForUpgrade.executeWithOptions({ summary: `stop OSDs on ${host}` }, [{ clusterId, host, osdIds }]);
      });
    } else {
      for (const s of ['ok_to_stop', 'set_noout', 'stop_osds'] as const) op.skip(s, 'no OSDs on this host');
    }

    const { rebootRequired } = await op.step('upgrade_packages', () =>
      wait.upgradeHostPackages.executeWithOptions(
        { summary: `${input.mode === 'restart' ? 'restart daemons' : `upgrade Ceph to ${input.targetVersion}`}${input.osPackages ? ' + OS packages' : ''} on ${host}` },
        [{ ...target, host, osPackages: input.osPackages }],
      ),
    );

    if (rebootRequired) {
      await op.step('reboot', async () => {
        if (input.monHost) {
          await hw.assertMonOkToStop.executeWithOptions({ summary: `ceph mon ok-to-stop ${host}` }, [{ clusterId, host }]);
        }
        powerOffSent = true;
        await power.powerCommand.executeWithOptions({ summary: `IPMI chassis power soft (${host}, reboot after upgrade)` }, [{ nodeId, command: 'soft' }]);
        await wait.waitForPower.executeWithOptions({ summary: `wait for ${host} to power off` }, [{ nodeId, state: 'off' }]);
        await power.powerCommand.executeWithOptions({ summary: `IPMI chassis power on (${host})` }, [{ nodeId, command: 'on' }]);
        await wait.waitForPower.executeWithOptions({ summary: `wait for ${host} to power on` }, [{ nodeId, state: 'on' }]);
        poweredOn = true;
        await wait.waitForSsh.executeWithOptions({ summary: `wait for SSH on ${host}` }, [{ nodeId }]);
        rebooted = true;
      });
    } else op.skip('reboot', 'the new packages need no reboot');

    if (hasOsds) {
      await op.step('start_osds', () =>
        hw.startOsdsAfterUpgrade.executeWithOptions({ summary: `start OSDs on ${host}` }, [{ clusterId, host, osdIds }]),
      );
      await op.step('wait_osds_up', async () => {
        await wait.waitForOsdsUp.executeWithOptions({ summary: `wait for OSDs on ${host} to come up` }, [{ clusterId, osdIds }]);
        osdsStopped = false;
      });
      await op.step('unset_noout', async () => {
        await hw.unsetHostNoout.executeWithOptions({ summary: `ceph osd unset-group noout ${host}` }, [{ clusterId, host }]);
        nooutSet = false;
      });
      await op.step('wait_clean', () => wait.waitForPgsClean.executeWithOptions({ summary: `wait for PGs active+clean (after ${host})` }, [{ clusterId }]));
    } else {
      for (const s of ['start_osds', 'wait_osds_up', 'unset_noout', 'wait_clean'] as const) op.skip(s, 'no OSDs on this host');
    }
    const { versions } = await op.step('verify_version', () =>
      hw.verifyHostVersion.executeWithOptions({ summary: `verify OSD versions on ${host}` }, [{ ...target, host }]),
    );
    const result = { host, rebooted, versions };
    op.complete(result as unknown as Record<string, unknown>);
    op.markRecorded();
    return result;
  } catch (err) {
    const problems = await CancellationScope.nonCancellable(() =>
      undoAll(
        [
          {
            what: `power ${host} back on`,
            when: powerOffSent && !poweredOn,
            run: async () => {
              // Bounded like the forward power calls: with the BMC gone this would otherwise retry for
              // half an hour before the upgrade could pause. Resuming retries the host, power-on included.
              await power.powerCommand.executeWithOptions({ summary: `IPMI chassis power on (${host}, compensation)` }, [{ nodeId, command: 'on' }]);
              await undo.waitForPower.executeWithOptions(
                { summary: `wait for ${host} to power on (compensation)`, heartbeatTimeout: '30 seconds', startToCloseTimeout: '3 hours' },
                [{ nodeId, state: 'on' }],
              );
            },
          },
          {
            // Starting a running OSD is a no-op, so this is safe whatever step failed.
            what: `start the OSDs on ${host}`,
            when: osdsStopped,
            run: () => undo.startOsdsAfterUpgrade.executeWithOptions({ summary: `start OSDs on ${host} (compensation)` }, [{ clusterId, host, osdIds }]),
          },
          {
            what: `unset noout on ${host}`,
            when: nooutSet,
            run: () => undo.unsetHostNoout.executeWithOptions({ summary: `ceph osd unset-group noout ${host} (compensation)` }, [{ clusterId, host }]),
          },
        ],
        op,
      ),
    );
    if (isCancellation(err)) {
      op.cancelled();
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
