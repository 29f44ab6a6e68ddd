import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database';
import type { Config } from '../../lib/config';
import type { Logger } from '../../lib/logger';
import { hasOpenChanges } from '../../db/repositories/operation-changes.repository';
import { settlerScheduleId } from '../../workflows/contracts';

/** What the settler's trigger needs; OperationDeps is one (declared here so the two services import one way). */
export interface SettlerDeps {
  db: Kysely<Database>;
  temporal: Client;
  config: Config;
  logger: Logger;
}

/** How long a request waits for Temporal to accept the trigger; the schedule runs anyway. */
const NUDGE_TIMEOUT_MS = 2_000;

/**
 * Asks the settler's Schedule to run now (a request found a lock whose workflow closed with changes
 * still open). Best effort: without the schedule (NF_SETTLE_INTERVAL_MS=0) or with Temporal slow, the
 * next scheduled run settles it; the request's 409 names the operation either way.
 */
export async function nudgeSettler(deps: SettlerDeps): Promise<void> {
  try {
    const handle = deps.temporal.schedule.getHandle(settlerScheduleId(deps.config.temporal.taskQueue));
    await deps.temporal.connection.withDeadline(Date.now() + NUDGE_TIMEOUT_MS, () => handle.trigger());
  } catch (err) {
    deps.logger.debug('settler not triggered', { err: String(err) });
  }
}

/**
 * For settleIfClosed, once it knows the operation's workflow is closed or gone: changes its ledger
 * still holds open (a machine off, noout, a weight) are the settler's to undo before anything else
 * may take the resource. Then the lock stays, the settler is asked to run now, and the answer is true.
 */
export async function leaveToSettler(deps: SettlerDeps, operationId: string): Promise<boolean> {
  if (!(await hasOpenChanges(deps.db, operationId))) return false;
  await nudgeSettler(deps);
  return true;
}
