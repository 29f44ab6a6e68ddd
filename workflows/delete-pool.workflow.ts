import { patched } from '@temporalio/workflow';
import { act } from './activity-proxies';
import type { PoolOperationInput } from './contracts';
import { OperationTracker } from './operation-tracker';
import { OPERATIONS } from './registry';
import { runOperation, undoAll } from './run-operation';

/**
 * Deletes a pool: `ceph osd pool rm` with mon_allow_pool_delete enabled for that command only,
 * the pool read back as gone, PGs clean, the row removed. On failure or cancel the row says what
 * is true: back to active when `rm` was never sent, removed when Ceph confirmed the pool gone, and
 * error ("delete it again") when `rm` was sent without an answer.
 */
export async function deletePoolWorkflow(input: PoolOperationInput): Promise<Record<string, unknown>> {
  const op = new OperationTracker(OPERATIONS['pool.delete'].steps);
  const { clusterId, poolId } = input;
  let rmSent = false;
  let removed = false;
  return runOperation(input.operationId, op, {
    run: async () => {
      const pool = await op.step('preflight', () =>
        act.describePool.executeWithOptions({ summary: 'read the pool' }, [{ poolId }]),
      );
      await op.step('delete_pool', async () => {
        rmSent = true;
        await act.deleteCephPool.executeWithOptions({ summary: `ceph osd pool rm ${pool.name}` }, [
          { clusterId, name: pool.name },
        ]);
        removed = true;
      });
      await op.step('verify', async () => {
        const r = await act.waitForPgsClean.executeWithOptions({ summary: 'wait for PGs active+clean' }, [
          { clusterId },
        ]);
        op.log(`pool ${pool.name} gone; ${r.pgs} PGs active+clean`);
      });
      await op.step('record', async () => {
        await act.deletePoolRow.executeWithOptions({ summary: 'remove the pool row' }, [{ poolId }]);
        await act.refreshClusterState.executeWithOptions({ summary: 'record cluster state' }, [{ clusterId }]);
      });
      return { pool_id: poolId, name: pool.name };
    },
    compensate: (o, why) => {
      const what = `deletion ${why.code === 'cancelled' ? 'cancelled' : `failed (${why.code}): ${why.message}`}`;
      // Added after the first histories were recorded: patched() keeps those replaying unchanged.
      const byProgress = patched('pool-delete-compensates-by-progress');
      return undoAll(
        [
          {
            what: 'pool marked error',
            when: !byProgress || (rmSent && !removed),
            run: () =>
              act.setPoolRowUndo.executeWithOptions({ summary: 'pool error' }, [
                {
                  poolId,
                  status: 'error',
                  reason: byProgress ? `${what} while ceph osd pool rm was running: delete it again` : what,
                },
              ]),
          },
          {
            what: 'pool back to active (nothing was removed)',
            when: byProgress && !rmSent,
            run: () =>
              act.setPoolRowUndo.executeWithOptions({ summary: 'pool active' }, [
                { poolId, status: 'active', reason: why.code === 'cancelled' ? null : `${what}; nothing was removed` },
              ]),
          },
          {
            what: 'pool row removed (Ceph removed the pool)',
            when: byProgress && removed,
            run: () => act.deletePoolRowUndo.executeWithOptions({ summary: 'remove the pool row' }, [{ poolId }]),
          },
        ],
        o,
      );
    },
  });
}
