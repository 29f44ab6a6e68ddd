import path from 'node:path';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import * as activities from './activities';
import { baselineParent, type BaselineInput } from './workflows';

/**
 * The bench-only worker of the baseline workflows: its own bundle and task queue on the same
 * Temporal server, with the product worker's task-queue settings (worker/main.ts), in the bench's
 * process beside the product worker.
 */
export interface BaselineWorker {
  run(client: Client, input: BaselineInput): Promise<{ seconds: number; hosts: number }>;
  shutdown(): Promise<void>;
}

export async function startBaselineWorker(address: string, namespace: string): Promise<BaselineWorker> {
  const bundle = await bundleWorkflowCode({ workflowsPath: path.join(__dirname, 'workflows.ts'), logger: quiet });
  const connection = await NativeConnection.connect({ address });
  const taskQueue = `bench-baseline-${process.pid}-${Date.now()}`;
  const worker = await Worker.create({
    connection,
    namespace,
    taskQueue,
    workflowBundle: bundle,
    activities,
    maxConcurrentActivityTaskExecutions: 100,
    shutdownGraceTime: '10 seconds',
    maxHeartbeatThrottleInterval: '2 seconds',
    defaultHeartbeatThrottleInterval: '2 seconds',
  });
  const done = worker.run().finally(() => connection.close());
  let seq = 0;
  return {
    async run(client, input) {
      seq += 1;
      const started = Date.now();
      const hosts = await client.workflow.execute(baselineParent, {
        taskQueue,
        workflowId: `bench-baseline-${process.pid}-${Date.now()}-${seq}`,
        args: [input],
      });
      return { seconds: (Date.now() - started) / 1000, hosts };
    },
    async shutdown() {
      worker.shutdown();
      await done;
    },
  };
}

const quiet = {
  log: () => {},
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: (m: string) => console.error(m),
};
