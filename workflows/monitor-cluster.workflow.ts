import { continueAsNew, log, setCurrentDetails, sleep, workflowInfo } from '@temporalio/workflow';
import { act } from './activity-proxies';
import type { MonitorClusterInput, MonitorClusterResult } from './contracts';

/**
 * The cluster monitor (docs/operators.md §The cluster monitor): one per cluster (workflow id
 * `<cluster id>/monitor`), started with the cluster's create or import. Every `intervalMs` one
 * activity reads Ceph through the cluster's driver and records health, checks, OSDs and drift in one
 * transaction; it takes no operation lock, so it keeps running beside operations. A round that fails
 * (after its bounded retries) is logged and the next round tries again. Ends by itself once the
 * cluster row is gone (deleted); continues as new after `roundsPerRun` rounds so its history stays
 * bounded. Not an operation: no operation row, no locks, nothing to compensate.
 */
export async function monitorClusterWorkflow(input: MonitorClusterInput): Promise<MonitorClusterResult> {
  // A continued run has no summary of its own (static metadata is per run): say what it is.
  if (workflowInfo().continuedFromExecutionRunId) {
    setCurrentDetails(
      `Monitor of cluster ${input.clusterId}, continued as new every ${input.roundsPerRun} rounds. The first run of this workflow id has the summary.`,
    );
  }
  for (let round = 1; round <= input.roundsPerRun; round++) {
    try {
      const r = await act.monitorCluster.executeWithOptions({ summary: `observe ${input.clusterId}` }, [
        { clusterId: input.clusterId },
      ]);
      if (r.state === 'gone') return { rounds: round, ended: 'cluster_deleted' };
    } catch (err) {
      log.warn('monitor round failed; the next round retries', { cluster_id: input.clusterId, err: String(err) });
    }
    await sleep(input.intervalMs);
  }
  return continueAsNew<typeof monitorClusterWorkflow>(input);
}
