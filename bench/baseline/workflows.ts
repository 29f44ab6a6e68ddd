import { executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type * as activities from './activities';

/**
 * The baseline of the upgrade bench (issue 14): the same shape of work as a rolling upgrade, done
 * the plainest correct way on the same Temporal server. A parent runs `perBatch` no-op activities
 * before each batch (the upgrade's gates), then one child per host of the batch at once; each child
 * runs `perHost` no-op activities one after another (the upgrade's steps). Bundled on its own and
 * registered on a bench-only worker (bench/baseline/worker.ts), never in the product's worker.
 */
const { noop } = proxyActivities<typeof activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3 },
});

export interface BaselineInput {
  /** Hosts per batch, in order (the batches the real upgrade formed). */
  batches: number[];
  perBatch: number;
  perHost: number;
}

export async function baselineParent(input: BaselineInput): Promise<number> {
  const { workflowId } = workflowInfo();
  let host = 0;
  for (const size of input.batches) {
    for (let i = 0; i < input.perBatch; i++) await noop();
    const children: Promise<number>[] = [];
    for (let i = 0; i < size; i++) {
      host += 1;
      children.push(executeChild(baselineChild, { workflowId: `${workflowId}/host/${host}`, args: [input.perHost] }));
    }
    await Promise.all(children);
  }
  return host;
}

export async function baselineChild(perHost: number): Promise<number> {
  for (let i = 0; i < perHost; i++) await noop();
  return perHost;
}
