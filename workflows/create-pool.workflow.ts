import { ApplicationFailure, patched } from '@temporalio/workflow';
import { act } from './activity-proxies';
import { FAILURE, type PoolOperationInput } from './contracts';
import { OperationTracker } from './operation-tracker';
import { createPoolPlan, isOnDemandProfile, type PoolParams } from './plans/create-pool.plan';
import { OPERATIONS } from './registry';
import { runOperation, undoAll } from './run-operation';

/**
 * Creates a pool (SPEC §3): validated against the cluster's failure domains, then the erasure
 * profile (erasure pools), the pool, size/min_size (replicated), the application, the autoscale
 * mode, each read back; the pool's PGs must become active+clean. The pools row goes creating →
 * active, or error with the reason (a DELETE removes what was made). A cancel before the pool was
 * sent to Ceph removes the row: nothing was made, and the name is free again.
 */
export async function createPoolWorkflow(input: PoolOperationInput): Promise<Record<string, unknown>> {
  const op = new OperationTracker(OPERATIONS['pool.create'].steps);
  const { clusterId, poolId } = input;
  // Set before `osd pool create` is sent (a lost reply may still have made the pool).
  let poolSent = false;

  return runOperation(input.operationId, op, {
    run: async () => {
      const { pool, plan, failureDomain } = await op.step('preflight', async () => {
        const pool = await act.describePool.executeWithOptions({ summary: 'read the pool' }, [{ poolId }]);
        const facts = await act.describePoolCluster.executeWithOptions({ summary: 'read the cluster' }, [
          { clusterId, excludePoolId: poolId },
        ]);
        const params: PoolParams = {
          name: pool.name,
          type: pool.type,
          replicationFactor: pool.type === 'replicated' ? pool.size : null,
          erasureProfile: pool.erasure_profile,
          pgAutoscale: pool.pg_autoscale,
          application: pool.application,
        };
        // A named profile (issue 12 #4: `default`, or one an operator made) is read from Ceph, used as it
        // is. Only such pools take this path, and none existed before it: older histories never reach patched().
        const named =
          pool.type === 'erasure' && pool.erasure_profile !== null && !isOnDemandProfile(pool.erasure_profile)
            ? pool.erasure_profile
            : null;
        if (named !== null && patched('pool-named-erasure-profile')) {
          const profile = await act.readErasureProfile.executeWithOptions(
            { summary: `ceph osd erasure-code-profile get ${named}` },
            [{ clusterId, name: named }],
          );
          if (!profile) {
            throw ApplicationFailure.nonRetryable(
              `Cluster ${clusterId} has no erasure code profile named ${named}: name an existing one (ceph osd erasure-code-profile ls), or ask for k<K>m<M> to have it made.`,
              FAILURE.erasureProfileNotFound,
            );
          }
          params.namedProfile = profile;
        }
        const plan = createPoolPlan(facts, params);
        const refusal = plan.refusals[0];
        if (refusal) throw ApplicationFailure.nonRetryable(refusal.message, refusal.code);
        if (params.namedProfile) {
          await act.setPoolShape.executeWithOptions({ summary: `record k=${plan.spec.k} m=${plan.spec.m}` }, [
            { poolId, size: plan.spec.size, minSize: plan.spec.minSize, k: plan.spec.k!, m: plan.spec.m! },
          ]);
        }
        op.log(
          `pool ${pool.name}: ${pool.type}, size ${plan.spec.size}, min_size ${plan.spec.minSize}${plan.spec.k ? `, k=${plan.spec.k} m=${plan.spec.m}` : ''}, ${facts.failureDomains} ${facts.failureDomain} failure domains`,
        );
        return { pool, plan, failureDomain: facts.failureDomain as 'host' | 'rack' | 'zone' };
      });
      const spec = plan.spec;

      if (pool.type === 'erasure' && plan.spec.cephProfile === pool.erasure_profile) {
        op.skip('create_profile', `existing profile ${pool.erasure_profile} (k=${spec.k} m=${spec.m}) used as it is`);
      } else if (pool.type === 'erasure') {
        await op.step('create_profile', () =>
          act.ensureErasureProfile.executeWithOptions(
            { summary: `ceph osd erasure-code-profile set ${spec.cephProfile}` },
            [
              {
                clusterId,
                profile: { name: spec.cephProfile!, k: spec.k!, m: spec.m!, failure_domain: failureDomain },
              },
            ],
          ),
        );
      } else op.skip('create_profile', 'replicated pool');

      const created = await op.step('create_pool', () => {
        poolSent = true;
        return act.createCephPool.executeWithOptions({ summary: `ceph osd pool create ${pool.name}` }, [
          {
            clusterId,
            name: pool.name,
            type: pool.type,
            pgNum: spec.pgNum,
            crushRule: spec.crushRule,
            cephProfile: spec.cephProfile,
            failureDomain,
          },
        ]);
      });
      op.log(`pool ${pool.name} is Ceph pool ${created.pool_id}`);

      if (pool.type === 'replicated') {
        await op.step('set_size', async () => {
          await act.setCephPool.executeWithOptions({ summary: `size ${spec.size}` }, [
            { clusterId, name: pool.name, key: 'size', value: String(spec.size) },
          ]);
          await act.setCephPool.executeWithOptions({ summary: `min_size ${spec.minSize}` }, [
            { clusterId, name: pool.name, key: 'min_size', value: String(spec.minSize) },
          ]);
        });
      } else op.skip('set_size', `erasure pools take size k+m = ${spec.size} from the profile`);

      if (pool.application) {
        const app = pool.application;
        await op.step('enable_application', () =>
          act.enablePoolApplication.executeWithOptions({ summary: `application enable ${app}` }, [
            { clusterId, name: pool.name, application: app },
          ]),
        );
      } else op.skip('enable_application', 'no application requested');

      await op.step('set_autoscale', () =>
        act.setCephPool.executeWithOptions({ summary: `pg_autoscale_mode ${pool.pg_autoscale ? 'on' : 'off'}` }, [
          { clusterId, name: pool.name, key: 'pg_autoscale_mode', value: pool.pg_autoscale ? 'on' : 'off' },
        ]),
      );

      const got = await op.step('verify', async () => {
        const p = await act.verifyCephPool.executeWithOptions({ summary: `read back ${pool.name}` }, [
          {
            clusterId,
            name: pool.name,
            size: spec.size,
            minSize: spec.minSize,
            application: pool.application,
            autoscale: pool.pg_autoscale,
          },
        ]);
        const r = await act.waitForPgsClean.executeWithOptions({ summary: 'wait for PGs active+clean' }, [
          { clusterId },
        ]);
        op.log(`pool read back; all ${r.pgs} PGs active+clean`);
        return p;
      });

      await op.step('record', async () => {
        await act.setPoolRow.executeWithOptions({ summary: 'pool active' }, [
          { poolId, status: 'active', pgNum: got.pg_num },
        ]);
        await act.refreshClusterState.executeWithOptions({ summary: 'record cluster state' }, [{ clusterId }]);
      });
      return {
        pool_id: poolId,
        name: pool.name,
        type: pool.type,
        size: got.size,
        min_size: got.min_size,
        pg_num: got.pg_num,
        erasure_profile: got.erasure_profile,
        applications: got.applications,
      };
    },

    compensate: (o, why) => {
      // Added after the first histories were recorded: patched() keeps those replaying unchanged.
      const withdrawn = why.code === 'cancelled' && !poolSent && patched('pool-create-cancel-removes-unmade-row');
      return undoAll(
        [
          {
            what: 'pool row removed (cancelled before anything was made in Ceph)',
            when: withdrawn,
            run: () => act.deletePoolRowUndo.executeWithOptions({ summary: 'remove the pool row' }, [{ poolId }]),
          },
          {
            what: 'pool marked error',
            when: !withdrawn,
            run: () =>
              act.setPoolRowUndo.executeWithOptions({ summary: 'pool error' }, [
                {
                  poolId,
                  status: 'error',
                  reason: `creation ${why.code === 'cancelled' ? 'cancelled' : `failed (${why.code}): ${why.message}`}; delete the pool to remove what was made`,
                },
              ]),
          },
        ],
        o,
      );
    },
  });
}
