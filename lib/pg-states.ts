/**
 * PG state names as Ceph prints them ("active+undersized+degraded"), read by the real and sandbox
 * drivers alike.
 */
const SETTLED_PG_STATES = new Set(['active', 'clean', 'undersized', 'degraded']);

/**
 * A PG as settled as it can be with some of its OSDs down: active, and neither peering,
 * recovering, backfilling, remapped nor waiting to (its state is made of active, clean, undersized
 * and degraded only). See CephStatus.pgs_settled.
 */
export function isSettledPgState(state: string): boolean {
  const parts = state.split('+');
  return parts.includes('active') && parts.every((p) => SETTLED_PG_STATES.has(p));
}
