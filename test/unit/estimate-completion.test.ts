import { describe, expect, it } from 'vitest';
import { estimateCompletion } from '../../api/services/operations.service';

describe('estimated_completion', () => {
  const started = '2026-11-23T10:00:00.000Z';
  const now = Date.parse('2026-11-23T10:10:00.000Z');

  it('extrapolates the pace so far: 25 % in 10 min → 30 min more', () => {
    expect(estimateCompletion('in_progress', 25, started, now)).toBe('2026-11-23T10:40:00.000Z');
    expect(estimateCompletion('in_progress', 99, started, now)).toBe(new Date(now + (600_000 * 1) / 99).toISOString());
  });

  it('gives none before 5 %, at 100 %, while paused or ended, or without a start', () => {
    expect(estimateCompletion('in_progress', 4, started, now)).toBeNull();
    expect(estimateCompletion('in_progress', 100, started, now)).toBeNull();
    for (const s of ['pending', 'paused', 'completed', 'failed', 'cancelled'])
      expect(estimateCompletion(s, 50, started, now)).toBeNull();
    expect(estimateCompletion('in_progress', 50, null, now)).toBeNull();
    expect(estimateCompletion('in_progress', 50, '2026-11-23T11:00:00.000Z', now)).toBeNull();
  });
});
