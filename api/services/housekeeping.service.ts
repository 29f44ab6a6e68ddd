import { purgeIdempotencyKeys } from '../../db/repositories/idempotency.repository';
import { purgeRateLimitWindows } from '../../db/repositories/rate-limits.repository';
import type { ApiDeps } from '../context';

/**
 * Drops expired idempotency records and old rate-limit windows, at most once per `intervalMs` per
 * process, in the background of a request. Any process may do it; the deletes are idempotent.
 */
export function createHousekeeper(
  deps: Pick<ApiDeps, 'db' | 'logger'>,
  intervalMs = 10 * 60_000,
): { maybeRun(): void } {
  let last = 0;
  return {
    maybeRun() {
      const now = Date.now();
      if (now - last < intervalMs) return;
      last = now;
      void Promise.all([purgeIdempotencyKeys(deps.db), purgeRateLimitWindows(deps.db)])
        .then(([idem, windows]) => {
          if (idem + windows > 0)
            deps.logger.debug('housekeeping', { idempotency_keys: idem, rate_limit_windows: windows });
        })
        .catch((err: unknown) => deps.logger.warn('housekeeping failed', { err: String(err) }));
    },
  };
}
