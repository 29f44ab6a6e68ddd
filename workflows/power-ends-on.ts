import { ApplicationFailure } from '@temporalio/workflow';
import { act } from './activity-proxies';
import { FAILURE } from './contracts';
import { describeFailure } from './operation-tracker';
import { readWaitBounds, serverBound, typedTimeout, type WaitBounds } from './wait-bounds';

// The compensation "make sure the machine ends up on" shared by reboot-node and upgrade-host. Each
// caller keeps its own patched() guard around it: this module only issues the commands that sat
// inside those guards, in the same order and with the same options, so recorded histories replay.

/** The non-retryable failure a compensation reports when it could not get `host` back on. */
export function stillOffFailure(host: string, err: unknown): ApplicationFailure {
  const why = describeFailure(err);
  return ApplicationFailure.nonRetryable(
    `${host} may still be powered off: ${why.code}: ${why.message} Power it on by hand (IPMI chassis power on) once its BMC answers.`,
    why.code,
  );
}

export interface EnsureEndsOnInput {
  host: string;
  nodeId: string;
  /** When the power-off was sent (workflow time, ms). */
  offSentAt: number;
  /** The wait bounds the forward path read, or null to read them now. */
  bounds: WaitBounds | null;
  /** Called before the failure is thrown when the machine could not be made to end up on. */
  onFailed: () => void;
}

/**
 * Waits for a sent power-off to complete, then powers the machine on, within twice the power bound.
 * Returns what happened, in words; throws stillOffFailure() (after onFailed()) when it may be off.
 */
export async function ensureEndsOn({ host, nodeId, offSentAt, bounds, onFailed }: EnsureEndsOnInput): Promise<string> {
  const b = bounds ?? (await readWaitBounds());
  try {
    const r = await typedTimeout(FAILURE.powerTimeout, `${host} to end up on`, () =>
      act.ensurePoweredOn.executeWithOptions(
        // Off wait and on wait, each within the power bound.
        {
          summary: `make sure ${host} ends up on: wait for the power-off to complete, then power on (compensation)`,
          scheduleToCloseTimeout: serverBound(2 * b.powerMs),
        },
        [{ nodeId, offSentAt }],
      ),
    );
    return r.outcome === 'powered_on'
      ? `${host} went off ${Math.round((r.offAfterMs ?? 0) / 1000)} s after the power-off was sent and was powered back on; it is on`
      : `${host} never went off after the power-off was sent (the OS ignored it) and is still on; no power-on was needed`;
  } catch (err) {
    onFailed();
    throw stillOffFailure(host, err);
  }
}
