import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { DriverError } from '../drivers/types';
import { FAILURE, NON_RETRYABLE, type FailureType } from '../lib/failures';

/** A permanent, typed failure: Temporal does not retry it, and the operation reports its type as the code. */
export function permanent(type: FailureType, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}

/** A typed failure that Temporal retries with the activity's backoff. */
export function transient(type: FailureType, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: false });
}

/**
 * Converts whatever a driver threw into an ApplicationFailure with an explicit type (STYLE 7), so the
 * retry policy and the operation's error code never depend on class names or message text.
 */
export function toFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure || err instanceof CancelledFailure) return err;
  if (err instanceof DriverError) {
    const nonRetryable = !err.retryable || NON_RETRYABLE.includes(err.type);
    return ApplicationFailure.create({ type: err.type, message: err.message, nonRetryable });
  }
  return err;
}

/** Runs an activity body and converts driver errors on the way out. */
export async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toFailure(err);
  }
}

/**
 * The longest one probe of a wait may take before its round counts as "not yet": below the waits'
 * 30 s heartbeat timeout, so a hung probe never silences the heartbeat long enough to be mistaken
 * for a dead worker.
 */
const PROBE_BOUND_MS = 25_000;

/**
 * Polls `probe` until it returns a value, heartbeating each round so that a dead worker is noticed
 * and a cancellation arrives (Context.sleep rejects on cancel). Retryable driver errors during a
 * wait count as "not yet"; a permanent one ends the wait at once. Past `timeoutMs` it fails with
 * the given typed failure, which the boundedWait preset does not retry.
 */
export async function pollUntil<T>(opts: {
  intervalMs: number;
  timeoutMs: number;
  timeoutType: FailureType;
  what: string;
  probe: () => Promise<T | undefined>;
  describe?: () => unknown;
}): Promise<T> {
  const ctx = Context.current();
  // Resume from the last heartbeat after a worker crash, so the bound covers the whole wait.
  const started = (ctx.info.heartbeatDetails as { startedAt?: number } | undefined)?.startedAt ?? Date.now();
  let lastError = '';
  for (;;) {
    try {
      // One probe that never answers (a BMC, a connection, a lock) must not stop the loop: it would
      // stop the heartbeats too, and only the server's timeouts would end the wait, untyped.
      const v = await withinMs(
        Math.max(opts.intervalMs, Math.min(PROBE_BOUND_MS, opts.timeoutMs)),
        opts.what,
        opts.probe,
      );
      if (v !== undefined) return v;
      lastError = '';
    } catch (err) {
      const f = toFailure(err);
      if (f instanceof ApplicationFailure && f.nonRetryable) throw f;
      if (f instanceof CancelledFailure) throw f;
      lastError = err instanceof Error ? err.message : String(err);
    }
    const elapsed = Date.now() - started;
    if (elapsed >= opts.timeoutMs) {
      throw permanent(
        opts.timeoutType,
        `Timed out after ${Math.round(elapsed / 1000)} s waiting for ${opts.what}${lastError ? ` (last error: ${lastError})` : ''}.`,
      );
    }
    ctx.heartbeat({ startedAt: started, waitingFor: opts.what, state: opts.describe?.() ?? null });
    await ctx.sleep(Math.min(opts.intervalMs, Math.max(1, opts.timeoutMs - elapsed)));
  }
}

/**
 * Runs `fn`, failing (retryably) when it has not settled within `ms`. The call itself is not
 * stopped (a driver call cannot always be), only no longer waited for.
 */
export async function withinMs<T>(
  ms: number,
  what: string,
  fn: () => Promise<T>,
  lateMessage: (what: string, ms: number) => string = (w, t) =>
    `no answer within ${Math.round(t / 1000)} s while waiting for ${w}`,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(lateMessage(what, ms))), ms);
  });
  try {
    return await Promise.race([fn(), late]);
  } finally {
    clearTimeout(timer);
  }
}

export { FAILURE };
