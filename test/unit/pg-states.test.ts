import { describe, expect, it } from 'vitest';
import { isSettledPgState } from '../../lib/pg-states';

describe('PG states: settled (what an upgrade around a host in maintenance waits for)', () => {
  it('active with copies missing is settled; anything moving, waiting or inactive is not', () => {
    for (const s of ['active+clean', 'active+undersized+degraded', 'active+undersized', 'active+degraded'])
      expect(isSettledPgState(s), s).toBe(true);
    for (const s of [
      'peering',
      'undersized+degraded+peered',
      'active+recovering+degraded',
      'active+recovery_wait+undersized+degraded',
      'active+undersized+degraded+remapped+backfill_wait',
      'active+remapped+backfilling',
      'stale+active+clean',
      'unknown',
    ])
      expect(isSettledPgState(s), s).toBe(false);
  });
});
