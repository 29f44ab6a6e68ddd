import { describe, expect, it } from 'vitest';
import { answerEstimate, ProgressClock } from '../../lib/plans/progress';

/** Minutes after the operation's start, as ISO (workflow time in the tracker). */
const START = Date.parse('2026-11-23T10:00:00.000Z');
const at = (min: number) => new Date(START + min * 60_000).toISOString();
const started = at(0);

describe('estimated_completion', () => {
  it('extrapolates the pace of the work done: 25 % after 10 min → done at 40 min', () => {
    const c = new ProgressClock();
    c.progressed(0, at(0), started);
    c.progressed(0.25, at(10), started);
    expect(c.estimate('in_progress')).toBe(at(40));
  });

  it('does not move while progress stands still (every poll within a step gives the same time)', () => {
    const c = new ProgressClock();
    c.progressed(0.25, at(10), started);
    const first = c.estimate('in_progress');
    // Polls within the step (the API answers with the real clock at 12, 20, 39 min): same estimate.
    for (const min of [12, 20, 39]) {
      expect(c.estimate('in_progress')).toBe(first);
      expect(answerEstimate('in_progress', c.estimate('in_progress'), Date.parse(at(min)))).toBe(at(40));
    }
    // The same progress reported again (a failed batch, retried) does not re-anchor it later.
    c.progressed(0.25, at(30), started);
    expect(c.estimate('in_progress')).toBe(at(40));
    // The next step's progress moves it, by the new pace: 50 % after 30 min → 60 min.
    c.progressed(0.5, at(30), started);
    expect(c.estimate('in_progress')).toBe(at(60));
  });

  it('excludes paused time from the pace and adds it to the end', () => {
    const c = new ProgressClock();
    c.progressed(0.25, at(10), started);
    // Paused 15 min in the middle of the next step: no estimate while paused.
    c.pause(at(15));
    expect(c.estimate('paused')).toBeNull();
    c.resume(at(30), started);
    // The same work still remains (30 min of active time): the end moves by exactly the pause.
    expect(c.estimate('in_progress')).toBe(at(55));
    // 50 % at 45 min, of which 15 min paused: 30 min of work for half → 30 min more, at 75.
    c.progressed(0.5, at(45), started);
    expect(c.activeMs(at(45), started)).toBe(30 * 60_000);
    expect(c.estimate('in_progress')).toBe(at(75));
  });

  it('counts a pause requested before the start only from the start', () => {
    const c = new ProgressClock();
    c.pause(at(-20));
    c.resume(at(5), started);
    c.progressed(0.5, at(15), started);
    // 10 min of work (15 − 5 paused) for 50 % → 10 min more.
    expect(c.estimate('in_progress')).toBe(at(25));
  });

  it('a progress change during a pause anchors the active time spent, not the pause', () => {
    const c = new ProgressClock();
    c.progressed(0.2, at(10), started);
    c.pause(at(12));
    // The batch in flight finishes while paused (hosts in flight finish).
    c.progressed(0.4, at(14), started);
    expect(c.estimate('paused')).toBeNull();
    c.resume(at(64), started);
    // 12 min of active work for 40 % → 18 min more, after the 50 min the pause lasted past the anchor.
    expect(c.estimate('in_progress')).toBe(at(14 + 50 + 18));
  });

  it('gives none before 5 %, at 100 %, without a start, or when not running', () => {
    const c = new ProgressClock();
    c.progressed(0.04, at(10), started);
    expect(c.estimate('in_progress')).toBeNull();
    c.progressed(1, at(20), started);
    expect(c.estimate('in_progress')).toBeNull();
    const d = new ProgressClock();
    d.progressed(0.5, at(10), null);
    expect(d.estimate('in_progress')).toBeNull();
    const e = new ProgressClock();
    e.progressed(0.5, at(10), started);
    for (const s of ['pending', 'paused', 'completed', 'failed', 'cancelled']) expect(e.estimate(s)).toBeNull();
  });

  it('survives continue-as-new: the state carried gives the same estimate', () => {
    const c = new ProgressClock();
    c.progressed(0.25, at(10), started);
    c.pause(at(11));
    c.resume(at(21), started);
    const carried = new ProgressClock(JSON.parse(JSON.stringify(c.state())));
    expect(carried.estimate('in_progress')).toBe(c.estimate('in_progress'));
    expect(carried.estimate('in_progress')).toBe(at(50));
  });

  it('the API answers null once the estimate has passed, and for anything but a running operation', () => {
    const est = at(40);
    expect(answerEstimate('in_progress', est, Date.parse(at(39)))).toBe(est);
    expect(answerEstimate('in_progress', est, Date.parse(at(40)))).toBeNull();
    expect(answerEstimate('in_progress', est, Date.parse(at(41)))).toBeNull();
    expect(answerEstimate('paused', est, Date.parse(at(10)))).toBeNull();
    expect(answerEstimate('in_progress', null, Date.parse(at(10)))).toBeNull();
    expect(answerEstimate('in_progress', undefined, Date.parse(at(10)))).toBeNull();
  });
});
