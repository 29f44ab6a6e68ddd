import path from 'node:path';
import { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { clusterHostResolver } from '../activities/targets';
import { createDb, type Db } from '../db/database';
import { createDriverRegistry } from '../drivers';
import type { DriverRegistry } from '../drivers/types';
import { loadConfig, type Config } from '../lib/config';
import { createLogger, type Logger } from '../lib/logger';
import { ensureSettlerSchedule } from './settler-schedule';

export const WORKFLOWS_PATH = path.resolve(__dirname, '../workflows/index.ts');

export interface WorkerDeps {
  db: Db;
  logger?: Logger;
  drivers?: DriverRegistry;
  /** A prebuilt workflow bundle (tests build one per run instead of one per worker). */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export interface RunningWorker {
  worker: Worker;
  shutdown(): Promise<void>;
  /** Settles when the worker stops; rejects if it stopped because of an error. */
  done: Promise<void>;
}

/** One connection, one worker on the configured task queue, activities built from injected deps. */
export async function startWorker(config: Config, deps: WorkerDeps): Promise<RunningWorker> {
  const logger = deps.logger ?? createLogger(config.logLevel, { component: 'worker' });
  const drivers = deps.drivers ?? createDriverRegistry({ db: deps.db, config, resolveHost: clusterHostResolver({ db: deps.db, config }) });
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({ db: deps.db, drivers, config, logger }),
    // Workflow bodies are small; most time is spent waiting on hardware in activities.
    maxConcurrentActivityTaskExecutions: 100,
    shutdownGraceTime: '10 seconds',
    // Cancellation reaches a waiting activity only with a heartbeat reply; the default throttle
    // (80 % of the heartbeat timeout) would let a cancelled reboot keep waiting for ~24 s.
    maxHeartbeatThrottleInterval: '2 seconds',
    defaultHeartbeatThrottleInterval: '2 seconds',
  });
  const done = worker.run().finally(() => connection.close());
  logger.info('worker started', { task_queue: config.temporal.taskQueue, namespace: config.temporal.namespace });
  // The settler's schedule: a worker that cannot create it still serves operations (the next start retries).
  await ensureSettlerSchedule(new Client({ connection, namespace: config.temporal.namespace }), config, logger).catch((err: unknown) => {
    logger.warn('settler schedule not ensured', { err: String(err) });
  });
  return {
    worker,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

if (require.main === module) {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(`nodefoundry worker: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  }
  const logger = createLogger(config.logLevel, { component: 'worker' });
  // The entry point owns the SDK runtime: its logs at our level, and shutdown on our signals only.
  Runtime.install({ logger: new DefaultLogger(config.logLevel === 'debug' ? 'DEBUG' : 'WARN'), shutdownSignals: [] });
  const db = createDb(config.databaseUrl);
  startWorker(config, { db, logger })
    .then((w) => {
      const stop = () => {
        logger.info('worker stopping');
        void w.shutdown();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return w.done;
    })
    .then(() => db.destroy())
    .catch((err: unknown) => {
      logger.error('worker failed', { err: String(err) });
      process.exitCode = 1;
    });
}
