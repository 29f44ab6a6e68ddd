import http from 'node:http';
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
import { ensureWebhookDispatchSchedule } from './webhook-schedule';
import { ensureClusterMonitors } from './cluster-monitors';

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
  /** Resolves once the worker polls its task queue (state RUNNING, logged as "worker ready"); rejects if it stops or fails first, or after 60 s. */
  ready: Promise<void>;
  /** The /readyz server's port, when NF_WORKER_HEALTH_PORT is set. */
  healthPort?: number;
}

const READY_TIMEOUT_MS = 60_000;

/** RUNNING is the SDK's state once run() has started the pollers; bounded. */
async function whenRunning(worker: Worker, done: Promise<void>): Promise<void> {
  let finished = false;
  done.then(
    () => (finished = true),
    () => (finished = true),
  );
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const state = worker.getState();
    if (state === 'RUNNING') return;
    if (
      finished ||
      state === 'FAILED' ||
      state === 'STOPPED' ||
      state === 'STOPPING' ||
      state === 'DRAINING' ||
      state === 'DRAINED'
    ) {
      throw new Error(`the worker stopped before it was ready (state ${state})`);
    }
    if (Date.now() > deadline)
      throw new Error(`the worker was not polling within ${READY_TIMEOUT_MS / 1000} s (state ${state})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * GET /readyz: 200 {"status":"ready"} while the worker polls its task queue, 503 {"status": <state>}
 * before and while it stops. For a supervisor (systemd, Kubernetes) of a worker run on its own.
 */
function startHealthServer(worker: Worker, config: Config, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || url !== '/readyz') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'not_found' }));
      return;
    }
    const state = worker.getState();
    const ready = state === 'RUNNING';
    res
      .writeHead(ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      .end(JSON.stringify({ status: ready ? 'ready' : state.toLowerCase(), task_queue: config.temporal.taskQueue }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, config.host, () => resolve(server));
  });
}

/** One connection, one worker on the configured task queue, activities built from injected deps. */
export async function startWorker(config: Config, deps: WorkerDeps): Promise<RunningWorker> {
  const logger = deps.logger ?? createLogger(config.logLevel, { component: 'worker' });
  const drivers =
    deps.drivers ??
    createDriverRegistry({ db: deps.db, config, resolveHost: clusterHostResolver({ db: deps.db, config }) });
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
  const health =
    config.workerHealthPort !== undefined
      ? await startHealthServer(worker, config, config.workerHealthPort)
      : undefined;
  const done = worker.run().finally(() => {
    health?.close();
    return connection.close();
  });
  logger.info('worker started', { task_queue: config.temporal.taskQueue, namespace: config.temporal.namespace });
  const ready = whenRunning(worker, done);
  ready.then(
    () =>
      logger.info('worker ready', {
        task_queue: config.temporal.taskQueue,
        namespace: config.temporal.namespace,
        ...(health ? { health_port: (health.address() as { port: number }).port } : {}),
      }),
    (err: unknown) => logger.error('worker not ready', { err: String(err) }),
  );
  // The settler's schedule: a worker that cannot create it still serves operations (the next start retries).
  await ensureSettlerSchedule(new Client({ connection, namespace: config.temporal.namespace }), config, logger).catch(
    (err: unknown) => {
      logger.warn('settler schedule not ensured', { err: String(err) });
    },
  );
  await ensureWebhookDispatchSchedule(
    new Client({ connection, namespace: config.temporal.namespace }),
    config,
    logger,
  ).catch((err: unknown) => {
    logger.warn('webhook dispatch schedule not ensured', { err: String(err) });
  });
  // Every cluster's monitor (docs/operators.md §The cluster monitor), in the background: a worker
  // that cannot start them still serves operations (the next start retries).
  if (config.monitor.ensureAtStart) {
    void ensureClusterMonitors(
      new Client({ connection, namespace: config.temporal.namespace }),
      deps.db,
      config,
      logger,
    ).catch((err: unknown) => logger.warn('cluster monitors not ensured', { err: String(err) }));
  }
  return {
    worker,
    done,
    ready,
    ...(health ? { healthPort: (health.address() as { port: number }).port } : {}),
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
