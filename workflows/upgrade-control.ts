import { condition, isCancellation, setHandler } from '@temporalio/workflow';
import { act } from './activity-proxies';
import { pauseUpdate, resumeUpdate, type OperationError } from './contracts';
import { describeFailure, type OperationTracker } from './operation-tracker';

/**
 * The rolling upgrade's pause state and its transitions, in one place: the `pause` and `resume`
 * updates, pausing on a failure, waiting out a pause at a safe point (keeping the operation row's
 * paused flag in step), and the moment after the last host when pausing stops meaning anything.
 * The workflow body only says where its safe points are.
 */
export class UpgradeControl {
  /** After the last host (or in compensation), pausing no longer means anything: the rest is restoring and recording. */
  private finishing = false;
  /** The operation row says paused (setOperationPaused was recorded and not yet undone). */
  private pausedInDb = false;
  /**
   * The version the upgrade moves to, once planned: the HEALTH_ERR gate lets through the checks an
   * upgrade to it raises as a matter of course (Tentacle's AUTH_INSECURE_*, OSD_UPGRADE_FINISHED).
   */
  target: string | null = null;

  constructor(
    private readonly op: OperationTracker,
    private readonly ids: { operationId: string; clusterId: string },
    /** What the messages call the operation and what a pause holds back (the expansion reuses this control). */
    private readonly words: { noun: string; holds: string; finishing: string } = {
      noun: 'upgrade',
      holds: 'No new daemon or host starts; hosts in flight finish.',
      finishing: 'The upgrade has finished its hosts and is restoring the cluster; it can no longer be paused.',
    },
  ) {}

  /** Registers the `pause` and `resume` update handlers (before the workflow's first await). */
  registerHandlers(): void {
    setHandler(
      pauseUpdate,
      ({ reason }) => {
        if (!this.op.isPaused) {
          this.op.pause({
            code: 'paused_by_request',
            message: `Paused by request${reason ? `: ${reason}` : ''}. ${this.words.holds}`,
          });
        }
        return this.op.snapshot();
      },
      {
        validator: (_args: { reason?: string }) => {
          if (this.finishing) throw new Error(this.words.finishing);
        },
      },
    );
    setHandler(
      resumeUpdate,
      () => {
        this.op.resume();
        return this.op.snapshot();
      },
      {
        validator: () => {
          if (!this.op.isPaused) throw new Error(`The ${this.words.noun} is not paused.`);
        },
      },
    );
  }

  /** Pauses for `why`, or, already paused, logs it beside the first reason. */
  pauseFor(why: OperationError): void {
    if (!this.op.isPaused) this.op.pause(why);
    else this.op.log(`also: ${why.message}`);
  }

  /** A safe point: nothing of the upgrade is in flight. Waits out a pause here, keeping the row's status in step. */
  async waitWhilePaused(): Promise<void> {
    const { operationId } = this.ids;
    while (this.op.isPaused) {
      if (!this.pausedInDb) {
        await act.setOperationPaused.executeWithOptions({ summary: 'record paused' }, [{ operationId, paused: true }]);
        this.pausedInDb = true;
      }
      await condition(() => !this.op.isPaused);
    }
    if (this.pausedInDb) {
      await act.setOperationPaused.executeWithOptions({ summary: 'record resumed' }, [{ operationId, paused: false }]);
      this.pausedInDb = false;
    }
  }

  /**
   * Runs one piece of work at a safe point, after checking the cluster is not HEALTH_ERR (unless
   * `gate` is false); a failure pauses the upgrade and the piece is retried on resume.
   */
  async atSafePoint<T>(what: string, fn: () => Promise<T>, gate = true): Promise<T> {
    for (;;) {
      await this.waitWhilePaused();
      try {
        if (gate)
          await act.assertNotHealthErr.executeWithOptions({ summary: `cluster not HEALTH_ERR (before ${what})` }, [
            { clusterId: this.ids.clusterId, ...(this.target ? { targetVersion: this.target } : {}) },
          ]);
        return await fn();
      } catch (err) {
        if (isCancellation(err)) throw err;
        const f = describeFailure(err);
        this.pauseFor({ code: f.code, message: `${what} failed: ${f.message}` });
      }
    }
  }

  /** All hosts are done: pausing is refused from now on, and a pause still standing is lifted. */
  hostsFinished(): void {
    this.finishing = true;
    if (this.op.isPaused) this.op.resume();
  }

  /** Compensation has started: pausing is refused from now on. */
  compensating(): void {
    this.finishing = true;
  }
}
