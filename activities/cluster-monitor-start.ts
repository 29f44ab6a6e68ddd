/* Shared by the API (after a create or import is accepted) and the worker (at start): both may import activities/ helpers, which sit below them and may use workflows/contracts.ts. */
import { WorkflowIdConflictPolicy, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import {
  MONITOR_WORKFLOW_TYPE,
  SA_ACCOUNT_ID,
  SA_CLUSTER_ID,
  SA_CLUSTER_NAME,
  monitorWorkflowId,
  type MonitorClusterInput,
} from '../workflows/contracts';
import { monitorIntervalMs, type Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import { clipSummary, workflowDetails } from '../lib/workflow-summary';

/**
 * Starts the cluster's monitor (docs/operators.md §The cluster monitor) unless it runs already (one
 * per cluster: the workflow id is derived from the cluster id, a second start joins the running
 * one). Called by the API right after a cluster create or import was accepted (the monitor skips its
 * rounds until the cluster has a health status) and by the worker at start for every cluster (a
 * monitor that was terminated, or whose start failed, comes back). Never throws: a cluster without
 * a monitor still works, it is just not observed between operations; the failure is logged.
 */
export async function ensureClusterMonitor(
  client: Client,
  config: Config,
  logger: Logger,
  cluster: { id: string; name: string; account_id: string; environment: 'live' | 'sandbox' },
): Promise<boolean> {
  if (config.monitor.intervalMs === 0) return false;
  // A sandbox cluster's monitor follows the sandbox speed knob (lib/config.ts monitorIntervalMs).
  const intervalMs = monitorIntervalMs(config, cluster.environment);
  const input: MonitorClusterInput = {
    clusterId: cluster.id,
    intervalMs,
    roundsPerRun: config.monitor.roundsPerRun,
  };
  try {
    await client.workflow.start(MONITOR_WORKFLOW_TYPE, {
      taskQueue: config.temporal.taskQueue,
      workflowId: monitorWorkflowId(cluster.id),
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      args: [input],
      typedSearchAttributes: new TypedSearchAttributes([
        { key: SA_CLUSTER_ID, value: cluster.id },
        { key: SA_ACCOUNT_ID, value: cluster.account_id },
        { key: SA_CLUSTER_NAME, value: cluster.name },
      ]),
      // The summary stays the first run's: a continued run (every roundsPerRun rounds) carries no
      // metadata of its own, the Web UI shows the chain's first (docs/operators.md).
      staticSummary: clipSummary(`Monitor cluster ${cluster.name}`),
      staticDetails: workflowDetails({
        title: `NodeFoundry cluster monitor: reads Ceph every ${intervalMs} ms`,
        cluster: { id: cluster.id, name: cluster.name },
      }),
    });
    return true;
  } catch (err) {
    logger.warn('cluster monitor not started', { cluster_id: cluster.id, err: String(err) });
    return false;
  }
}
