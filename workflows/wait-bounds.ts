import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';
import { SERVER_BOUND_MARGIN_MS } from './activity-options';
import { act } from './activity-proxies';
import type { FailureType } from './contracts';

export interface WaitBounds {
  powerMs: number;
  sshMs: number;
  cephMs: number;
}

/** The worker's configured wait bounds (NF_WAIT_*), so the server can enforce them too. */
export function readWaitBounds(): Promise<WaitBounds> {
  return act.waitBounds();
}

/** A scheduleToCloseTimeout (ms) for a wait whose activity gives up by itself after `waitMs`. */
export function serverBound(waitMs: number): number {
  return waitMs + SERVER_BOUND_MARGIN_MS;
}

/**
 * Runs a wait whose server-side timeout (schedule-to-close, or heartbeats that stopped on every
 * attempt) must still read as the wait's own typed failure, never as an untyped internal error.
 */
export async function typedTimeout<T>(type: FailureType, what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure) {
      throw ApplicationFailure.create({
        type,
        message: `Timed out waiting for ${what}: the wait did not end within its bound (${err.cause.message}).`,
        nonRetryable: true,
      });
    }
    throw err;
  }
}
