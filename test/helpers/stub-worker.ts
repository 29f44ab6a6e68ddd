import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import type { OperationSnapshot } from '../../workflows/contracts';

/**
 * Workflows over stubbed activities: the real workflow code (the run's prebuilt bundle) on a real
 * Temporal server, with every activity replaced by a function of the test, by name, as the
 * workflows' proxyActivities call them. No database, no drivers: what a workflow does is read
 * from the activities it called, in order, and from the state the stubs model.
 *
 * The server is the integration tier's (global setup): @temporalio/testing's time-skipping test
 * server is a separate download that is not available offline, so these tests run in real time and
 * their stubs answer at once.
 */

// The workflows fail on purpose here: the SDK's warning for each would bury the test output.
// Core's own warnings too (a stub still holding when its workflow ended is expected here).
Runtime.install({
  logger: new DefaultLogger('ERROR'),
  shutdownSignals: [],
  telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
});

// Activities are any functions; their arguments are what the workflow passed.
export type StubFn = (...args: any[]) => unknown;
export type Stubs = Record<string, StubFn>;

export interface Call {
  name: string;
  args: unknown[];
}

export interface Failure {
  /** The failure type (the operation's error code). */
  type: string;
  /** Only calls whose first argument matches (default: every call). */
  when?: (arg: never) => boolean;
  /** Fail after the stub ran (the call took effect but its reply was lost); default: before. */
  after?: boolean;
  /** How many matching calls fail (default 1). */
  times?: number;
}

/** A recording set of stubbed activities, with failures injected by name. */
export class StubActivities {
  readonly calls: Call[] = [];
  private readonly failures = new Map<string, Failure & { left: number }>();
  private readonly waiters: { name: string; when: (arg: never) => boolean; resolve: (c: Call) => void }[] = [];

  constructor(private readonly stubs: Stubs) {}

  /** The next matching call of `name` fails with a non-retryable failure of `type`. */
  fail(name: string, failure: Failure): this {
    if (!(name in this.stubs)) throw new Error(`no stub named ${name}`);
    this.failures.set(name, { ...failure, left: failure.times ?? 1 });
    return this;
  }

  /** The activities as the worker registers them. */
  activities(): Stubs {
    const out: Stubs = {};
    for (const [name, fn] of Object.entries(this.stubs)) {
      out[name] = async (...args: unknown[]) => {
        const call = { name, args };
        this.calls.push(call);
        for (const w of this.waiters.filter((x) => x.name === name && x.when(args[0] as never))) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(call);
        }
        const f = this.failures.get(name);
        const failing = f && f.left > 0 && (!f.when || f.when(args[0] as never));
        if (failing) f.left--;
        const boom = () =>
          ApplicationFailure.create({
            type: f!.type,
            message: `${name} failed (stubbed ${f!.type})`,
            nonRetryable: true,
          });
        if (failing && !f.after) throw boom();
        const out = await fn(...args);
        if (failing) throw boom();
        return out;
      };
    }
    return out;
  }

  names(): string[] {
    return this.calls.map((c) => c.name);
  }

  /** Names of the calls after the first call of `name` that failed or matched `when`. */
  namesAfter(name: string, when: (arg: never) => boolean = () => true): string[] {
    const i = this.calls.findIndex((c) => c.name === name && when(c.args[0] as never));
    if (i < 0) throw new Error(`${name} was never called; calls: ${this.names().join(', ')}`);
    return this.calls.slice(i + 1).map((c) => c.name);
  }

  /** Resolves at the first matching call (past or future); rejects after `timeoutMs`. */
  waitForCall(name: string, when: (arg: never) => boolean = () => true, timeoutMs = 30_000): Promise<Call> {
    const past = this.calls.find((c) => c.name === name && when(c.args[0] as never));
    if (past) return Promise.resolve(past);
    return new Promise<Call>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`${name} not called within ${timeoutMs} ms; calls: ${this.names().join(', ')}`)),
        timeoutMs,
      );
      this.waiters.push({
        name,
        when,
        resolve: (c) => {
          clearTimeout(t);
          resolve(c);
        },
      });
    });
  }

  /** The operation's final state as the workflow recorded it (finishOperation's argument). */
  finalSnapshot(): OperationSnapshot {
    const c = this.calls.filter((x) => x.name === 'finishOperation');
    if (c.length !== 1) throw new Error(`finishOperation called ${c.length} times`);
    return (c[0]!.args[0] as { snapshot: OperationSnapshot }).snapshot;
  }
}

/** The bookkeeping every operation workflow does (runOperation), recorded and otherwise ignored. */
export const bookkeepingStubs = (): Stubs => ({
  markOperationStarted: () => undefined,
  finishOperation: () => undefined,
  setOperationPaused: () => undefined,
});

/** The wait bounds local activity: short, since every stubbed wait answers at once. */
export const waitBoundsStub = (): Stubs => ({ waitBounds: () => ({ powerMs: 5_000, sshMs: 5_000, cephMs: 5_000 }) });

/**
 * An activity that holds until `release()` is called or the activity is cancelled (worker
 * shutdown at the end of the test included), then runs `then`.
 */
export function gate<T>(then: () => T): { fn: StubFn; release: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return {
    release: () => open(),
    fn: async () => {
      await Promise.race([opened, Context.current().cancelled]);
      return then();
    },
  };
}

/** An activity that heartbeats until it is cancelled (by the workflow's cancel, or worker shutdown). */
export async function untilCancelled(): Promise<never> {
  const ctx = Context.current();
  for (;;) {
    ctx.heartbeat();
    await ctx.sleep(100);
  }
}

/**
 * Runs `fn` with a worker serving the real workflows and `stubs` on a fresh task queue of the test
 * Temporal server; the worker stops when `fn` ends.
 */
export async function withStubWorker<T>(
  stubs: StubActivities,
  fn: (client: Client, taskQueue: string) => Promise<T>,
): Promise<T> {
  const env = await TestWorkflowEnvironment.createFromExistingServer({ address: inject('temporalAddress') });
  try {
    const taskQueue = `stub-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue,
      workflowBundle: { codePath: inject('workflowBundlePath') },
      activities: stubs.activities(),
    });
    return await worker.runUntil(fn(env.client, taskQueue));
  } finally {
    await env.teardown();
  }
}

/** The failure a workflow ended with: its type (the operation's error code), or 'cancelled'. */
export async function outcome(
  result: Promise<unknown>,
): Promise<{ status: 'completed' | 'failed' | 'cancelled'; type?: string; value?: unknown }> {
  try {
    return { status: 'completed', value: await result };
  } catch (err) {
    const cause = (err as { cause?: { name?: string; type?: string } }).cause;
    if (cause?.name === 'CancelledFailure') return { status: 'cancelled' };
    return { status: 'failed', ...(cause?.type ? { type: cause.type } : {}) };
  }
}
