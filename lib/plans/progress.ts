/**
 * How an operation's `progress` and `estimated_completion` are computed (docs/api.md §Operations).
 * Pure: the workflows' OperationTracker keeps a ProgressClock in workflow time (so it replays
 * identically), the API turns the tracker's estimate into the answer with the real clock.
 */

/** Below this share of the work done a linear estimate says little: none is given. */
export const MIN_FRACTION_FOR_ESTIMATE = 0.05;

/** The moment progress last changed, and how much active (not paused) time had been spent by then. */
export interface ProgressAnchor {
  /** When progress reached `fraction` (workflow time, ISO). */
  at: string;
  /** Share of the work done then, 0–1, unrounded. */
  fraction: number;
  /** Time spent running (pauses excluded) from the operation's start to `at`, in ms. */
  activeMs: number;
  /** Paused time accrued up to `at` (ended pauses and the part of a running one), in ms. */
  pausedMs: number;
}

/** A ProgressClock's state: JSON-safe, carried across continue-as-new. */
export interface ProgressClockState {
  /** Paused time of the pauses that have ended (only the part after the start), in ms. */
  pausedMs: number;
  /** Start of the pause under way, or null. */
  pausedSince: string | null;
  anchor: ProgressAnchor | null;
}

export const emptyClock = (): ProgressClockState => ({ pausedMs: 0, pausedSince: null, anchor: null });

const ms = (iso: string) => Date.parse(iso);

/**
 * Paused time and the last progress change of one operation. Estimates from it do not move while
 * progress stands still (they do not drift later on every poll within a step), and paused time
 * neither counts as work done nor shortens what is left.
 */
export class ProgressClock {
  private s: ProgressClockState;

  constructor(state: ProgressClockState = emptyClock()) {
    this.s = { ...state, anchor: state.anchor ? { ...state.anchor } : null };
  }

  state(): ProgressClockState {
    return { ...this.s, anchor: this.s.anchor ? { ...this.s.anchor } : null };
  }

  /** A pause begins at `at` (before the start, it counts from the start). */
  pause(at: string): void {
    this.s.pausedSince ??= at;
  }

  /** The pause ends at `at`; `startedAt` bounds it when it began before the operation started. */
  resume(at: string, startedAt: string | null): void {
    if (this.s.pausedSince === null) return;
    if (startedAt !== null) this.s.pausedMs += this.pausedPart(this.s.pausedSince, at, startedAt);
    this.s.pausedSince = null;
  }

  /** All paused time up to `at`, a running pause included. */
  pausedUpTo(at: string, startedAt: string): number {
    return this.s.pausedMs + (this.s.pausedSince === null ? 0 : this.pausedPart(this.s.pausedSince, at, startedAt));
  }

  /** Time spent running (not paused) between `startedAt` and `at`. */
  activeMs(at: string, startedAt: string): number {
    return Math.max(0, ms(at) - ms(startedAt) - this.pausedUpTo(at, startedAt));
  }

  /**
   * Progress is `fraction` (0–1) at `at`. Only a change moves the anchor: the same value reported
   * again (a batch that failed and is retried) leaves the estimate where it was.
   */
  progressed(fraction: number, at: string, startedAt: string | null): void {
    if (startedAt === null || !Number.isFinite(fraction)) return;
    if (this.s.anchor && this.s.anchor.fraction === fraction) return;
    this.s.anchor = {
      at,
      fraction,
      activeMs: this.activeMs(at, startedAt),
      pausedMs: this.pausedUpTo(at, startedAt),
    };
  }

  /**
   * When the operation would reach 100 % if the rest of the work goes at the pace of the work done
   * so far (active time only), shifted by the time paused since progress last changed. Null unless
   * it runs (not paused: its end then depends on an operator or a fix) with 5 %–<100 % done.
   */
  estimate(status: string): string | null {
    const a = this.s.anchor;
    if (status !== 'in_progress' || this.s.pausedSince !== null || !a) return null;
    if (a.fraction < MIN_FRACTION_FOR_ESTIMATE || a.fraction >= 1 || a.activeMs <= 0) return null;
    const remaining = (a.activeMs * (1 - a.fraction)) / a.fraction;
    const pausedSinceAnchor = Math.max(0, this.s.pausedMs - a.pausedMs);
    return new Date(ms(a.at) + pausedSinceAnchor + remaining).toISOString();
  }

  /** The part of the pause [from, to] after the operation's start, in ms. */
  private pausedPart(from: string, to: string, startedAt: string): number {
    return Math.max(0, ms(to) - Math.max(ms(from), ms(startedAt)));
  }
}

/**
 * The estimate as the API answers it at `now` (real time): the workflow's estimate while the
 * operation runs, null once that moment has passed (the work is slower than its pace so far, and
 * any later time would be a guess) or when there is none.
 */
export function answerEstimate(status: string, estimate: string | null | undefined, now: number): string | null {
  if (status !== 'in_progress' || !estimate) return null;
  const t = ms(estimate);
  return Number.isFinite(t) && t > now ? estimate : null;
}

/** What a rolling upgrade has to do, in units of work: each mgr, each mon, each OSD host. */
export interface UpgradeUnits {
  mgrs: number;
  mons: number;
  hosts: number;
}

export function upgradeUnits(schedule: {
  mgrStandbys: readonly string[];
  mgrActive: string | null;
  mons: readonly string[];
  hosts: readonly unknown[];
}): UpgradeUnits {
  return {
    mgrs: schedule.mgrStandbys.length + (schedule.mgrActive ? 1 : 0),
    mons: schedule.mons.length,
    hosts: schedule.hosts.length,
  };
}

/**
 * A rolling upgrade's share of work done, 0–1: daemons (mgrs and mons) and OSD hosts done over all
 * of them, one unit each. With nothing to do it is 1 (the tracker shows 99 % until the end).
 */
export function upgradeFraction(units: UpgradeUnits, daemonsDone: number, hostsDone: number): number {
  const total = units.mgrs + units.mons + units.hosts;
  if (total === 0) return 1;
  const done = Math.min(daemonsDone, units.mgrs + units.mons) + Math.min(hostsDone, units.hosts);
  return done / total;
}
