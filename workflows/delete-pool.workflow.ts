import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { boundedWait, compensation, dbWrite, hardwareCommand } from './activity-options';
import type { PoolOperationInput } from './contracts';
import { OperationTracker } from './operation-tracker';
import { DELETE_POOL_STEPS } from './plans/create-pool.plan';
import { runOperation, undoAll } from './run-operation';

const db = proxyActivities<Activities>(dbWrite);
const hw = proxyActivities<Activities>(hardwareCommand);
const wait = proxyActivities<Activities>(boundedWait);
const undo = proxyActivities<Activities>(compensation);

/**
 * Deletes a pool: `ceph osd pool rm` with mon_allow_pool_delete enabled for that command only,
 * the pool read back as gone, PGs clean, the row removed. A failure leaves the row in error.
 */
export async function deletePoolWorkflow(input: PoolOperationInput): Promise<Record<string, unknown>> {
  const op = new OperationTracker(DELETE_POOL_STEPS);
  const { clusterId, poolId } = input;
  return runOperation(input.operationId, op, {
    run: async () => {
      const pool = await op.step('preflight', () => db.describePool.executeWithOptions({ summary: 'read the pool' }, [{ poolId }]));
      await op.step('delete_pool', () => hw.deleteCephPool.executeWithOptions({ summary: `ceph osd pool rm ${pool.name}` }, [{ clusterId, name: pool.name }]));
      await op.step('verify', async () => {
        const r = await wait.waitForPgsClean.executeWithOptions({ summary: 'wait for PGs active+clean' }, [{ clusterId }]);
        op.log(`pool ${pool.name} gone; ${r.pgs} PGs active+clean`);
      });
      await op.step('record', async () => {
        await db.deletePoolRow.executeWithOptions({ summary: 'remove the pool row' }, [{ poolId }]);
        await db.refreshClusterState.executeWithOptions({ summary: 'record cluster state' }, [{ clusterId }]);
      });
      return { pool_id: poolId, name: pool.name };
    },
    compensate: (o, why) =>
      undoAll(
        [
          {
            what: 'pool marked error',
            when: true,
            run: () =>
              undo.setPoolRow.executeWithOptions({ summary: 'pool error' }, [
                { poolId, status: 'error', reason: `deletion ${why.code === 'cancelled' ? 'cancelled' : `failed (${why.code}): ${why.message}`}` },
              ]),
          },
        ],
        o,
      ),
  });
}
