import { ApplicationFailure, isCancellation, setHandler, type ActivityFailure } from '@temporalio/workflow';
import { emptyClock, ProgressClock, type ProgressClockState } from '../lib/plans/progress';
import {
  FAILURE,
  getOperationQuery,
  type LogEntry,
  type OperationError,
  type OperationSnapshot,
  type StepState,
} from './contracts';

/**
 * The operation's state as the workflow lives it: steps, logs, progress, error. Served to the API by
 * the getOperation query while the workflow runs, and written to PostgreSQL once at the end.
 * Timestamps come from workflow time, so they replay identically.
 */
export class OperationTracker {
  private readonly steps: StepState[];
  private readonly logs: LogEntry[] = [];
  private status: OperationSnapshot['status'] = 'pending';
  private error: OperationError | null = null;
  private result: Record<string, unknown> | null = null;
  private startedAt: string | null = null;
  private completedAt: string | null = null;
  private current: string | null = null;
  /** When set, progress is this (e.g. an upgrade's units done / units total) instead of the share of steps done. */
  private progressOverride: number | null = null;
  /** The unrounded share behind progressOverride (0–1), for the estimate. */
  private overrideFraction: number | null = null;
  /** Paused time and the last progress change: what `estimated_completion` is computed from. */
  private clock = new ProgressClock();
  /**
   * A terminal status is shown to queries only once the final state is in PostgreSQL (and the
   * locks are released): a client that sees "completed" can start the next operation at once.
   */
  private recorded = false;
  /** Logs are capped so a long operation's query answer and final row stay small. */
  private static readonly MAX_LOGS = 500;

  constructor(stepNames: readonly string[]) {
    this.steps = stepNames.map((name) => ({ name, status: 'pending', started_at: null, finished_at: null }));
    setHandler(getOperationQuery, () => this.snapshot());
  }

  start(): void {
    // A pause can arrive (as an update) before the workflow's first step: it stands.
    if (this.status !== 'paused') this.status = 'in_progress';
    // A run that continued as new keeps the operation's original start.
    this.startedAt ??= now();
    this.noteProgress();
  }

  /** Paused with a reason (an operator's request, or a failure that waits for a decision). */
  pause(reason: OperationError): void {
    this.status = 'paused';
    this.error = reason;
    this.clock.pause(now());
    this.log(`paused: ${reason.message}`);
  }

  resume(): void {
    this.status = 'in_progress';
    this.error = null;
    this.clock.resume(now(), this.startedAt);
    this.log('resumed');
  }

  get isPaused(): boolean {
    return this.status === 'paused';
  }

  /** Progress in percent, from the operation's own measure (floored; 100 only once completed). */
  setProgress(percent: number): void {
    this.progressOverride = Math.max(0, Math.min(99, Math.floor(percent)));
    this.overrideFraction = Math.max(0, Math.min(1, percent / 100));
    this.noteProgress();
  }

  /** Everything needed to continue the same operation in a new run (continue-as-new). JSON-safe. */
  exportState(): TrackerState {
    return {
      steps: this.steps.map((s) => ({ ...s })),
      logs: this.logs.map((l) => ({ ...l })),
      status: this.status,
      error: this.error,
      startedAt: this.startedAt,
      current: this.current,
      progressOverride: this.progressOverride,
      overrideFraction: this.overrideFraction,
      clock: this.clock.state(),
    };
  }

  importState(state: TrackerState): void {
    this.steps.splice(0, this.steps.length, ...state.steps.map((s) => ({ ...s })));
    this.logs.splice(0, this.logs.length, ...state.logs.map((l) => ({ ...l })));
    this.status = state.status;
    this.error = state.error;
    this.startedAt = state.startedAt;
    this.current = state.current;
    this.progressOverride = state.progressOverride;
    // Runs carried before the estimate existed: the next progress change anchors it.
    this.overrideFraction =
      state.overrideFraction ?? (state.progressOverride === null ? null : state.progressOverride / 100);
    this.clock = new ProgressClock(state.clock ?? emptyClock());
  }

  log(message: string): void {
    this.logs.push({ timestamp: now(), message });
    if (this.logs.length > OperationTracker.MAX_LOGS) this.logs.splice(0, this.logs.length - OperationTracker.MAX_LOGS);
  }

  /** Runs one named step: marks it in progress, then completed or failed. */
  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const s = this.find(name);
    s.status = 'in_progress';
    s.started_at = now();
    this.current = name;
    try {
      const out = await fn();
      s.status = 'completed';
      s.finished_at = now();
      this.noteProgress();
      return out;
    } catch (err) {
      s.status = isCancellation(err) ? 'cancelled' : 'failed';
      s.finished_at = now();
      throw err;
    }
  }

  skip(name: string, why: string): void {
    const s = this.find(name);
    s.status = 'skipped';
    s.finished_at = now();
    this.log(`${name} skipped: ${why}`);
    this.noteProgress();
  }

  complete(result: Record<string, unknown>): void {
    this.status = 'completed';
    this.result = result;
    this.current = null;
    this.completedAt = now();
  }

  fail(error: OperationError): void {
    this.status = 'failed';
    this.error = error;
    this.completedAt = now();
    this.log(`failed: ${error.message}`);
  }

  /** `problems`: what compensation could not undo; the error then says so instead of "undone". */
  cancelled(problems: string[] = []): void {
    this.status = 'cancelled';
    this.error = {
      code: FAILURE.cancelled,
      message: problems.length
        ? `The operation was cancelled; not all of its changes could be undone: ${problems.join('; ')}`
        : 'The operation was cancelled; its changes were undone.',
    };
    this.completedAt = now();
    for (const s of this.steps) if (s.status === 'pending') s.status = 'cancelled';
    this.log('cancelled');
  }

  /** Pending steps that will never run once the operation has failed. */
  abandonPending(): void {
    for (const s of this.steps) if (s.status === 'pending') s.status = 'skipped';
  }

  /** Called after the final state was written: queries now report the terminal status. */
  markRecorded(): void {
    this.recorded = true;
  }

  snapshot(): OperationSnapshot {
    const s = this.finalSnapshot();
    if (this.recorded || s.status === 'in_progress' || s.status === 'pending' || s.status === 'paused') return s;
    return {
      ...s,
      status: 'in_progress',
      progress: Math.min(s.progress, 99),
      current_step: 'record_result',
      completed_at: null,
    };
  }

  /** The state as it will be recorded, terminal status included. */
  finalSnapshot(): OperationSnapshot {
    const progress =
      this.status === 'completed'
        ? 100
        : this.progressOverride !== null
          ? this.progressOverride
          : Math.floor(this.stepShare() * 100);
    return {
      status: this.status,
      progress,
      current_step: this.current,
      steps: this.steps.map((s) => ({ ...s })),
      logs: this.logs.map((l) => ({ ...l })),
      started_at: this.startedAt,
      completed_at: this.completedAt,
      estimated_completion: this.clock.estimate(this.status),
      error: this.error,
      result: this.result,
    };
  }

  /** The share of applicable steps done, `extra` of a step counted beside them (0–1). */
  private stepShare(extra = 0): number {
    const applicable = this.steps.filter((s) => s.status !== 'skipped');
    if (applicable.length === 0) return 0;
    return (applicable.filter((s) => s.status === 'completed').length + extra) / applicable.length;
  }

  /**
   * Share of the work done, 0–1, that the estimate is computed from: the operation's own measure
   * (setProgress), or the share of steps done with the step in progress counting by inStepShare.
   */
  protected workDone(): number {
    return this.overrideFraction ?? this.stepShare(this.inStepShare());
  }

  /** How much of the step in progress is done (0–1), for operations that can tell (a drain's PGs moved). */
  protected inStepShare(): number {
    return 0;
  }

  /**
   * Anchors the estimate when progress changed (the clock ignores the same value reported again).
   * Subclasses whose inStepShare moves call it when it does.
   */
  protected noteProgress(): void {
    this.clock.progressed(this.workDone(), now(), this.startedAt);
  }

  private find(name: string): StepState {
    const s = this.steps.find((x) => x.name === name);
    if (!s) throw ApplicationFailure.nonRetryable(`unknown step ${name}`, FAILURE.internal);
    return s;
  }
}

export interface TrackerState {
  steps: StepState[];
  logs: LogEntry[];
  status: OperationSnapshot['status'];
  error: OperationError | null;
  startedAt: string | null;
  current: string | null;
  progressOverride: number | null;
  /** Absent in runs carried before the estimate existed. */
  overrideFraction?: number | null;
  clock?: ProgressClockState;
}

function now(): string {
  return new Date().toISOString();
}

/**
 * The code and message an operation reports for a failure: the typed failure of the activity that
 * failed (ApplicationFailure.type), never a stack trace.
 */
export function describeFailure(err: unknown): OperationError {
  let e: unknown = err;
  // ActivityFailure wraps the activity's ApplicationFailure as its cause.
  while (
    e &&
    typeof e === 'object' &&
    'cause' in e &&
    (e as ActivityFailure).cause &&
    !(e instanceof ApplicationFailure)
  ) {
    e = (e as ActivityFailure).cause;
  }
  if (e instanceof ApplicationFailure) {
    return { code: e.type ?? FAILURE.internal, message: e.message };
  }
  if (e instanceof Error) return { code: FAILURE.internal, message: e.message };
  return { code: FAILURE.internal, message: String(e) };
}
