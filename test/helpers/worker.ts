import { inject } from 'vitest';
import type { Config } from '../../lib/config';
import type { Db } from '../../db/database';
import type { DriverRegistry } from '../../drivers/types';
import { createLogger } from '../../lib/logger';
import { startWorker, type RunningWorker } from '../../worker/main';

/** A real worker on the test's own task queue, running the run's prebuilt workflow bundle. */
export async function startTestWorker(config: Config, db: Db, drivers?: DriverRegistry): Promise<RunningWorker> {
  return startWorker(config, {
    db,
    logger: createLogger(config.logLevel, { component: 'worker' }),
    ...(drivers ? { drivers } : {}),
    workflowBundle: { codePath: inject('workflowBundlePath') },
  });
}
