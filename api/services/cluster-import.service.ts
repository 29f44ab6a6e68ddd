import * as clusters from '../../db/repositories/clusters.repository';
import { ensureClusterMonitor } from '../../activities/cluster-monitor-start';
import { newId } from '../../lib/ids';
import { importRequestRefusals } from '../../lib/plans/import-cluster.planner';
import type { ApiDeps, AuthState } from '../context';
import { ApiError } from '../errors';
import type { ImportClusterBody } from '../schemas/clusters.schemas';
import { nameTakenOr, refusalError, type ClusterAccepted } from './clusters.service';
import { startOperation } from './operations.service';
import { withHosts } from '../../lib/workflow-summary';

const IMPORT_FIELDS = {
  node_not_found: 'node_ids',
  node_held: 'node_ids',
  node_in_cluster: 'node_ids',
  invalid_state: 'node_ids',
  name_taken: 'name',
};

/**
 * Accepts the import of an existing Ceph cluster. In one transaction: the nodes are locked
 * (operation_locks and their rows), checked (ready, not held, in no cluster), claimed, and the
 * cluster row is written IMPORTING with the admin node; then the workflow reads Ceph and records it
 * (docs/clusters.md, "Importing an existing cluster").
 */
export async function importCluster(
  deps: ApiDeps,
  auth: AuthState,
  requestId: string,
  body: ImportClusterBody,
): Promise<ClusterAccepted> {
  if (!body.node_ids.includes(body.admin_node_id)) {
    throw new ApiError(
      'validation_error',
      'admin_node_id must be one of node_ids (node_ids lists every host of the cluster).',
      { field: 'admin_node_id' },
    );
  }
  const clusterId = newId('cluster');
  try {
    const op = await startOperation(deps, {
      accountId: auth.accountId,
      environment: auth.environment,
      type: 'cluster.import',
      requestId,
      primaryResourceId: clusterId,
      clusterId,
      lockResourceIds: [clusterId, ...body.node_ids],
      params: {
        name: body.name,
        admin_node_id: body.admin_node_id,
        node_ids: body.node_ids,
        deployment: body.deployment,
      },
      input: (operationId) => ({ operationId, accountId: auth.accountId, clusterId }),
      summary: (n) =>
        withHosts(
          `Import cluster ${body.name} through ${n.hostname(body.admin_node_id)}`,
          n.hosts.map((h) => h.hostname),
        ),
      precheck: async (trx) => {
        const facts = await clusters.createClusterFacts(
          trx,
          auth,
          { clusterId: null, name: body.name, nodeIds: body.node_ids },
          true,
        );
        const refusal = refusalError({ refusals: importRequestRefusals(facts, body.name) }, IMPORT_FIELDS);
        if (refusal) throw refusal;
      },
      onCreate: (trx) =>
        clusters.insertClusterClaimingNodes(
          trx,
          {
            id: clusterId,
            account_id: auth.accountId,
            environment: auth.environment,
            name: body.name,
            status: 'IMPORTING',
            // A placeholder until the import has read Ceph (recordImportedCluster).
            ceph_version: 'unknown',
            deployment: body.deployment,
            admin_node_id: body.admin_node_id,
          },
          body.node_ids,
        ),
    });
    await ensureClusterMonitor(deps.temporal, deps.config, deps.logger, {
      id: clusterId,
      name: body.name,
      account_id: auth.accountId,
      environment: auth.environment,
    });
    return { id: clusterId, name: body.name, status: 'IMPORTING', operation_id: op.id };
  } catch (err) {
    throw nameTakenOr(err, body.name);
  }
}
