import type { Client } from '@temporalio/client';
import type { Db } from '../db/database';
import { clustersToMonitor } from '../db/repositories/cluster-health.repository';
import { ensureClusterMonitor } from '../activities/cluster-monitor-start';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';

/**
 * At worker start (NF_MONITOR_ENSURE_AT_START): every cluster gets its monitor if it has none
 * running — clusters created before monitors existed, a monitor terminated from the Web UI, a start
 * the API could not make. A running monitor is joined, not doubled (ensureClusterMonitor). Answers
 * how many starts were asked; `accountId` limits it to one account (tests).
 */
export async function ensureClusterMonitors(
  client: Client,
  db: Db,
  config: Config,
  logger: Logger,
  accountId?: string,
): Promise<number> {
  if (config.monitor.intervalMs === 0) return 0;
  let n = 0;
  for (const c of await clustersToMonitor(db, accountId)) {
    if (await ensureClusterMonitor(client, config, logger, c)) n += 1;
  }
  logger.info('cluster monitors ensured', { clusters: n });
  return n;
}
