import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { generateSecretKey } from '../../lib/config';
import { freePort } from '../../scripts/lib/ports';
import { spawnCollecting, waitFor, waitForOutput } from '../helpers/spawned';

/**
 * The worker run on its own (`node --import tsx worker/main.ts`, as a deployment runs it) says when
 * it is ready (issue 8 #17): a "worker ready" log line once it polls its task queue, and GET /readyz
 * on NF_WORKER_HEALTH_PORT.
 */

const ROOT = path.resolve(__dirname, '..', '..');

describe('worker run on its own', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('logs "worker ready" and answers GET /readyz 200 once it polls its task queue; SIGTERM stops it and the port', async () => {
    const port = await freePort();
    const taskQueue = `readyz-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: inject('databaseUrl'),
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: taskQueue,
      NF_SECRET_KEY: generateSecretKey(),
      NF_WORKER_HEALTH_PORT: String(port),
      NF_LOG_LEVEL: 'info',
      // The run's database is shared: this worker must not start monitors for other files' clusters.
      NF_MONITOR_INTERVAL_MS: '0',
    };
    const worker = spawnCollecting(process.execPath, ['--import', 'tsx', 'worker/main.ts'], { cwd: ROOT, env });
    child = worker.child;

    const line = await waitForOutput(
      worker,
      'the "worker ready" line',
      100_000,
      (out) => out.split('\n').find((l) => l.includes('"worker ready"')),
      100,
    );
    expect(JSON.parse(line)).toMatchObject({
      level: 'info',
      msg: 'worker ready',
      task_queue: taskQueue,
      health_port: port,
    });

    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', task_queue: taskQueue });
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);

    // Ready means polling: Temporal lists the worker as a poller of its task queue.
    const connection = await Connection.connect({ address: inject('temporalAddress') });
    try {
      const pollers = await waitFor(
        'a poller on the task queue',
        10_000,
        async () => {
          const d = await connection.workflowService.describeTaskQueue({
            namespace: 'default',
            taskQueue: { name: taskQueue },
            taskQueueType: 1,
          });
          return (d.pollers ?? []).length > 0 ? d.pollers : undefined;
        },
        100,
      );
      expect(pollers!.length).toBeGreaterThan(0);
    } finally {
      await connection.close();
    }

    child.kill('SIGTERM');
    await waitFor('the worker to exit', 30_000, () => (worker.exitCode !== undefined ? true : undefined), 100);
    expect(worker.exitCode).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/readyz`)).rejects.toThrow();
  }, 150_000);
});
