import { ApplicationFailure, CancellationScope, ContinueAsNew, isCancellation } from '@temporalio/workflow';
import { act } from './activity-proxies';
import { describeFailure, OperationTracker } from './operation-tracker';
import type { OperationError } from './contracts';

export interface OperationBody {
  /** The forward path. Returns the operation's result. */
  run(op: OperationTracker): Promise<Record<string, unknown>>;
  /**
   * Undo what the forward path changed. Runs on failure and on cancellation, shielded from the
   * cancellation itself; returns problems it could not fix, which the operation then reports.
   */
  compensate(op: OperationTracker, why: OperationError): Promise<string[]>;
}

/**
 * The frame shared by every operation workflow: mark started, run, compensate on any failure or
 * cancel, write the final state (which also releases the resource locks), then end the workflow
 * the way Temporal's Web UI should show it: completed, failed with the typed error, or cancelled.
 */
export async function runOperation(
  operationId: string,
  op: OperationTracker,
  body: OperationBody,
): Promise<Record<string, unknown>> {
  op.start();
  let outcome:
    | { kind: 'ok'; result: Record<string, unknown> }
    | { kind: 'failed'; error: OperationError }
    | { kind: 'cancelled'; cause: unknown };
  try {
    // Inside the try: a cancel that arrives this early must still end in a recorded state.
    await act.markOperationStarted.executeWithOptions({ summary: 'mark operation started' }, [{ operationId }]);
    outcome = { kind: 'ok', result: await body.run(op) };
  } catch (err) {
    // Continuing as new is not an end: the next run carries the operation on (upgrades).
    if (err instanceof ContinueAsNew) throw err;
    outcome = isCancellation(err) ? { kind: 'cancelled', cause: err } : { kind: 'failed', error: describeFailure(err) };
  }

  if (outcome.kind !== 'ok') {
    const why = outcome.kind === 'failed' ? outcome.error : { code: 'cancelled', message: 'cancelled by request' };
    op.log(`compensating after ${outcome.kind === 'failed' ? `failure (${why.code})` : 'cancellation'}`);
    const problems = await CancellationScope.nonCancellable(() => body.compensate(op, why));
    for (const p of problems) op.log(`compensation problem: ${p}`);
    if (outcome.kind === 'failed') {
      op.abandonPending();
      const suffix = problems.length ? ` Compensation incomplete: ${problems.join('; ')}` : '';
      op.fail({ code: outcome.error.code, message: outcome.error.message + suffix });
    } else {
      op.cancelled(problems);
      if (problems.length) op.log(`cancellation left work for an operator: ${problems.join('; ')}`);
    }
  } else {
    op.complete(outcome.result);
  }

  await CancellationScope.nonCancellable(() =>
    act.finishOperation.executeWithOptions({ summary: `record ${op.finalSnapshot().status}` }, [
      { operationId, snapshot: op.finalSnapshot() },
    ]),
  );
  op.markRecorded();

  if (outcome.kind === 'failed') {
    throw ApplicationFailure.create({
      type: outcome.error.code,
      message: op.finalSnapshot().error!.message,
      nonRetryable: true,
    });
  }
  if (outcome.kind === 'cancelled') throw outcome.cause;
  return outcome.result;
}

/**
 * Runs compensation steps one after another, collecting (not throwing) what could not be undone.
 * `said`, when it returns text after the step ran, replaces "undone: <what>" in the log with what
 * actually happened.
 */
export async function undoAll(
  steps: { what: string; when: boolean; run: () => Promise<unknown>; said?: () => string }[],
  op: OperationTracker,
): Promise<string[]> {
  const problems: string[] = [];
  for (const s of steps) {
    if (!s.when) continue;
    try {
      await s.run();
      op.log(`undone: ${s.said?.() || s.what}`);
    } catch (err) {
      problems.push(`${s.what} failed: ${describeFailure(err).message}`);
    }
  }
  return problems;
}
