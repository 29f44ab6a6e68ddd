import { describe, expect, it } from 'vitest';
import { cephState, recordHistory, upgrade200Hosts, useScaleRig } from './upgrade-fixtures';

/**
 * A 200-host rolling upgrade at instant sandbox speed with max_concurrent 10: every host upgraded
 * exactly once, never more hosts down at once than allowed, and the parent continued as new.
 * The cluster keeps 10 replicas with min_size 1, so ok-to-stop lets 9 hosts stop at once: batches
 * of 10 shrink to 9, and both bounds are visible in the result.
 */
const rig = useScaleRig();

describe('rolling upgrade at scale', () => {
  it('upgrades 200 hosts, 10 at most at once, each exactly once, continuing as new', async () => {
    const api = rig();
    const { clusterId, nodes, op, seconds } = await upgrade200Hosts(api, 600_000);
    console.log(`200-host upgrade: ${seconds.toFixed(1)} s, ${op.result?.runs} runs`);
    expect(op.status, JSON.stringify(op.error)).toBe('completed');
    expect(op.result).toMatchObject({ hosts_total: 200, hosts_done: 200 });

    const s = await cephState(api, clusterId);
    const events = s.upgrade!.events;
    for (const n of nodes)
      expect(events.filter((e) => e.kind === 'host_upgraded' && e.host === n.hostname).length, n.hostname).toBe(1);
    // Hosts down at once, from the simulator's own log of stops and starts.
    let down = 0;
    let most = 0;
    for (const e of events) {
      if (e.kind === 'host_down') most = Math.max(most, ++down);
      if (e.kind === 'host_up') down--;
    }
    expect(down).toBe(0);
    expect(most).toBeLessThanOrEqual(10);
    expect(s.upgrade!.max_down_hosts).toBe(most);
    // max_concurrent 10, ok-to-stop 9 (size 10, min_size 1): the batches really ran in parallel.
    expect(most).toBe(9);
    expect(s.noout_hosts).toEqual([]);
    expect(s.upgrade!.noautoscale).toBe(false);

    // Continue-as-new happened, and the API still answered by workflow id across the runs.
    expect(op.result.runs).toBeGreaterThanOrEqual(2);
    const desc = await api.client.workflow.getHandle(op.temporal.workflow_id).describe();
    expect(desc.runId).not.toBe(op.temporal.run_id);
    await recordHistory(api, op.temporal.workflow_id, 'upgradeClusterWorkflow--continued-as-new-last-run');
  }, 600_000);
});
