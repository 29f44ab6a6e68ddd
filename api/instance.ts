import { randomUUID } from 'node:crypto';
import type { Db } from '../db/database';
import { registerApiInstance, removeApiInstance, touchApiInstance } from '../db/repositories/api-instances.repository';
import type { Logger } from '../lib/logger';

export interface ApiInstance {
  /** Random per process; Idempotency-Key claims record it (claimed_by). */
  readonly id: string;
  /** Stops refreshing and deletes the row (graceful shutdown, after in-flight requests drained). */
  stop(): Promise<void>;
}

/**
 * Registers this API process in api_instances and refreshes its last_seen every third of
 * `livenessMs` (an unref'd timer: it never keeps the process alive). A claim whose instance was not
 * seen for `livenessMs` is abandoned (claimIdempotencyKey), so a process that died loses its claims
 * within that bound, and a live one keeps them.
 */
export async function startApiInstance(db: Db, livenessMs: number, logger: Logger): Promise<ApiInstance> {
  const id = `api_${randomUUID()}`;
  await registerApiInstance(db, id);
  let refreshing: Promise<void> = Promise.resolve();
  const timer = setInterval(
    () => {
      refreshing = touchApiInstance(db, id).catch((err: unknown) =>
        logger.warn('api instance not refreshed', { err: String(err) }),
      );
    },
    Math.max(100, Math.floor(livenessMs / 3)),
  );
  timer.unref();
  let stopped: Promise<void> | undefined;
  return {
    id,
    stop: () =>
      (stopped ??= (async () => {
        clearInterval(timer);
        await refreshing;
        await removeApiInstance(db, id);
      })()),
  };
}
