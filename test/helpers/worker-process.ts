/**
 * A worker as its own process for the kill tests (`node --import tsx test/helpers/worker-process.ts`):
 * worker/main.ts's entry point (configuration from the environment, the real drivers and activities),
 * except that it runs the test run's prebuilt workflow bundle (NF_TEST_WORKFLOW_BUNDLE) instead of
 * bundling the workflows again, so that it is ready in seconds. It logs "worker ready" like the real one.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createDb } from '../../db/database';
import { loadConfig } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { startWorker } from '../../worker/main';

const codePath = process.env.NF_TEST_WORKFLOW_BUNDLE;
if (!codePath) throw new Error('NF_TEST_WORKFLOW_BUNDLE is not set');
const config = loadConfig();
const logger = createLogger(config.logLevel, { component: 'worker' });
Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
const db = createDb(config.databaseUrl);
startWorker(config, { db, logger, workflowBundle: { codePath } })
  .then((w) => {
    process.once('SIGTERM', () => void w.shutdown());
    return w.done;
  })
  .then(() => db.destroy())
  .catch((err: unknown) => {
    logger.error('worker failed', { err: String(err) });
    process.exitCode = 1;
  });
