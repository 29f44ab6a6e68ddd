import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './cluster-harness';

/**
 * Issue 8 #13: overlapping cluster creates and imports racing each other. Locks used to be taken in
 * the order the client listed the nodes, so two requests over the same nodes in different orders
 * deadlocked in PostgreSQL and one got a 500. Every answer must be 202 or 409, never 5xx.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('concurrent overlapping creates (issue 8 #13)', () => {
  it('rounds of 10 concurrent creates and imports over overlapping node sets, in different orders, answer only 202 or 409', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await h.registerNode()).id);
    let accepted = 0;
    for (let round = 0; round < 5; round++) {
      // Every request takes 8 or all 10 of the nodes in its own order: all overlap pairwise.
      const sets = Array.from({ length: 10 }, (_, i) => {
        const pick = ids.filter((_, j) => i % 2 === 0 || (j !== i % 10 && j !== (i + 5) % 10));
        return rotate(i % 3 === 0 ? [...pick].reverse() : pick, i + round);
      });
      const answers = await Promise.all(
        sets.map((nodeIds, i) =>
          i % 3 === 2
            ? h.api('POST', '/v1/clusters/import', {
                name: `race-${round}-${i}`,
                admin_node_id: nodeIds[0],
                node_ids: nodeIds,
              })
            : h.api('POST', '/v1/clusters', { name: `race-${round}-${i}`, node_ids: nodeIds, ceph_version: 'reef' }),
        ),
      );
      const seen = answers.map((a) => [a.status, a.body?.error?.code ?? 'accepted']);
      expect(
        answers.every((a) => a.status === 202 || a.status === 409),
        JSON.stringify(seen),
      ).toBe(true);
      for (const a of answers.filter((x) => x.status === 409)) {
        expect(['resource_busy', 'conflict', 'node_in_cluster', 'invalid_state']).toContain(a.body.error.code);
      }
      // The winner (at most one: every set overlaps every other) runs to its end, then its locks are gone.
      for (const a of answers.filter((x) => x.status === 202)) {
        accepted += 1;
        await h.waitForOperation(a.body.data.operation_id);
      }
    }
    expect(accepted).toBe(1);
    const left = await h.db
      .selectFrom('operation_locks')
      .select('resource_id')
      .where('resource_id', 'in', ids)
      .execute();
    expect(left).toEqual([]);
  });
});

function rotate<T>(xs: T[], by: number): T[] {
  const k = by % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}
