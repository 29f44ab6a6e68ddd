import { sql } from 'kysely';
import type { Executor } from '../database';

export interface WindowCount {
  /** Requests counted in the current window, this one included. */
  count: number;
  windowStart: Date;
}

/**
 * Counts one request in the current one-minute window of the account's `bucket` (its key kind:
 * live, test, ro) and returns the new count. The database clock decides the window and the upsert
 * is atomic, so every API process shares one counter per account, bucket and minute.
 */
export async function hitRateLimitWindow(db: Executor, accountId: string, bucket: string): Promise<WindowCount> {
  const row = await db
    .insertInto('rate_limit_windows')
    .values({ account_id: accountId, bucket, window_start: sql<Date>`date_trunc('minute', now())`, count: 1 })
    .onConflict((oc) =>
      oc
        .columns(['account_id', 'bucket', 'window_start'])
        .doUpdateSet({ count: sql<number>`rate_limit_windows.count + 1` }),
    )
    .returning(['count', 'window_start'])
    .executeTakeFirstOrThrow();
  return { count: row.count, windowStart: row.window_start };
}

/** Drops windows that ended before `olderThanMinutes` ago; returns how many were removed. */
export async function purgeRateLimitWindows(db: Executor, olderThanMinutes = 5): Promise<number> {
  const res = await db
    .deleteFrom('rate_limit_windows')
    .where('window_start', '<', sql<Date>`now() - make_interval(mins => ${olderThanMinutes})`)
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}
