import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningWorker } from '../../worker/main';
import { startTestApi, type TestApi } from '../helpers/api';
import { startTestWorker } from '../helpers/worker';
import { cephState, recordHistory, sandboxCluster, waitForOperation } from './upgrade-fixtures';

/**
 * The rolling upgrade end to end: HTTP API → Temporal (parent + one child per host) → sandbox Ceph
 * → PostgreSQL. Assertions read the simulator's event log, so they see what the cluster saw.
 */
let api: TestApi;
let worker: RunningWorker;

beforeAll(async () => {
  api = await startTestApi({ NF_WAIT_CEPH_MS: '4000', NF_WAIT_POWER_MS: '4000', NF_WAIT_SSH_MS: '4000', NF_LOG_LEVEL: 'silent' });
  worker = await startTestWorker(api.config, api.db);
});

afterAll(async () => {
  await worker?.shutdown();
  await api?.close();
});


async function startUpgrade(clusterId: string, body: Record<string, unknown>): Promise<string> {
  const r = await api.request('POST', `/v1/clusters/${clusterId}/upgrade`, { body });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body.data.operation_id;
}

describe('rolling upgrade', () => {
  it('upgrades reef → squid: mgr standbys, failover, mons, then every OSD host once; autoscale frozen and restored', async () => {
    const { clusterId, nodes } = await sandboxCluster(api, { hosts: 4 });
    const before = await cephState(api, clusterId);
    const id = await startUpgrade(clusterId, { ceph_version: 'squid', max_concurrent: 1 });
    const op = await waitForOperation(api, id);
    expect(op.status, JSON.stringify(op, null, 1)).toBe('completed');
    expect(op.progress).toBe(100);
    expect(op.result).toMatchObject({ hosts_total: 4, hosts_done: 4, target_version: 'squid' });
    const s = await cephState(api, clusterId);
    const events = s.upgrade!.events;
    const kinds = events.map((e) => `${e.kind}${e.daemon ? `:${e.daemon}` : e.host ? `:${e.host}` : ''}`);
    // Order: freeze → mgr standby → failover → old active mgr → mons → OSD hosts → release.
    const [active, standby] = [before.mgrs[0]!, before.mgrs[1]!];
    expect(kinds.slice(0, 4)).toEqual(['autoscale_frozen', `daemon_redeployed:mgr.${standby}`, `mgr_failover:mgr.${standby}`, `daemon_redeployed:mgr.${active}`]);
    expect(kinds.slice(4, 7)).toEqual(before.mons.map((m) => `daemon_redeployed:mon.${m}`));
    expect(kinds[kinds.length - 1]).toBe('autoscale_released');
    const firstHostEvent = kinds.findIndex((k) => k.startsWith('host_'));
    expect(firstHostEvent).toBeGreaterThan(6);
    for (const n of nodes) expect(events.filter((e) => e.kind === 'host_upgraded' && e.host === n.hostname)).toHaveLength(1);
    expect(s.upgrade!.max_down_hosts).toBe(1);
    expect(s.upgrade!.noautoscale).toBe(false);
    expect(s.noout_hosts).toEqual([]);
    expect(Object.values(s.upgrade!.versions).every((v) => v.includes(' squid '))).toBe(true);
    const cluster = await api.db.selectFrom('clusters').selectAll().where('id', '=', clusterId).executeTakeFirstOrThrow();
    expect(cluster.ceph_version).toBe('squid');
    expect(await api.db.selectFrom('operation_locks').selectAll().where('operation_id', '=', id).execute()).toEqual([]);
    await recordHistory(api, op.temporal.workflow_id, 'upgradeClusterWorkflow--completed');
    await recordHistory(api, `${op.temporal.workflow_id}/host/${nodes[0]!.hostname}`, 'upgradeHostWorkflow--completed');
  });
});
