import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSandboxPoolData } from '../../drivers/sandbox';
import { monitorWorkflowId } from '../../workflows/contracts';
import { startHarness, type Harness, until } from './cluster-harness';

/**
 * How full a cluster is (issue 11): each monitor round records every OSD's used_gb, and the cluster's
 * raw/used/avail bytes from Ceph's PG map; GET /v1/clusters/{id}/osds, /health and the cluster list
 * show them, and they follow what clients write. Real API + worker + Temporal + PostgreSQL with the
 * sandbox drivers; "clients write" through the sandbox's writeSandboxPoolData.
 */
const INTERVAL_MS = 1000;
let h: Harness;
let clusterId: string;

beforeAll(async () => {
  h = await startHarness({ NF_MONITOR_INTERVAL_MS: String(INTERVAL_MS), NF_MONITOR_ROUNDS_PER_RUN: '4' });
});

afterAll(async () => {
  await h?.close();
});

async function get(path: string): Promise<any> {
  const r = await h.api('GET', path);
  expect(r.status).toBe(200);
  return r.body.data;
}

const GB = 1e9;
const TIB = 2 ** 40;

describe('cluster monitor: used capacity', () => {
  it('a new cluster: raw capacity known, nothing used; after the monitor round the health says so', async () => {
    const nodes = [await h.registerNode(), await h.registerNode(), await h.registerNode()];
    const c = await h.api('POST', '/v1/clusters', {
      name: 'usage',
      node_ids: nodes.map((n) => n.id),
      ceph_version: 'reef',
    });
    expect(c.status).toBe(202);
    clusterId = c.body.data.id;
    expect((await h.waitForOperation(c.body.data.operation_id)).status).toBe('completed');

    const hl = await until('a monitor round', async () => {
      const v = await get(`/v1/clusters/${clusterId}/health`);
      return v.observed_at && v.capacity.raw_bytes !== null ? v : undefined;
    });
    const osds = await get(`/v1/clusters/${clusterId}/osds?per_page=100`);
    // The PG map's raw bytes are the OSDs' device sizes: capacity_gb (10^9) each, so within a GB per OSD.
    const capacityGb = osds.reduce((n: number, o: any) => n + o.capacity_gb, 0);
    expect(Math.abs(hl.capacity.raw_bytes / GB - capacityGb)).toBeLessThanOrEqual(osds.length);
    expect(hl.capacity).toEqual({
      raw_bytes: hl.capacity.raw_bytes,
      used_bytes: 0,
      avail_bytes: hl.capacity.raw_bytes,
    });
    expect(osds.map((o: any) => o.used_gb)).toEqual(osds.map(() => 0));
    const cluster = await get(`/v1/clusters/${clusterId}`);
    expect(cluster.used_capacity_tib).toBe(0);
    expect(cluster.capacity.used_capacity_tib).toBe(0);
  });

  it('clients write 300 GB to a size-3 pool → the next rounds show 900 GB used, spread over the OSDs; deleted → back to 0', async () => {
    // A pool with PGs on every OSD (a new cluster has only the one-PG pool of the mgr).
    const pool = await h.api('POST', `/v1/clusters/${clusterId}/pools`, {
      name: 'usage-data',
      type: 'replicated',
      application: 'rbd',
    });
    expect([pool.status, pool.body.error]).toEqual([202, undefined]);
    expect((await h.waitForOperation(pool.body.data.operation_id)).status).toBe('completed');
    const before = await get(`/v1/clusters/${clusterId}/health`);
    await writeSandboxPoolData(h.db, clusterId, 300 * GB, 'usage-data');
    const hl = await until(
      'used capacity after the write',
      async () => {
        const v = await get(`/v1/clusters/${clusterId}/health`);
        return v.capacity.used_bytes > 0 ? v : undefined;
      },
      2 * INTERVAL_MS + 5000,
    );
    // Every copy counts: 3 × 300 GB (the sandbox rounds each OSD's bytes).
    expect(Math.abs(hl.capacity.used_bytes - 900 * GB)).toBeLessThanOrEqual(16);
    expect(hl.capacity.raw_bytes).toBe(before.capacity.raw_bytes);
    expect(hl.capacity.avail_bytes).toBe(hl.capacity.raw_bytes - hl.capacity.used_bytes);

    // The OSDs as the API lists them: used_gb (whole GB, as capacity_gb) where the PGs are, summing to the 900 GB.
    const osds = await until('OSDs with their used_gb', async () => {
      const list = await get(`/v1/clusters/${clusterId}/osds?per_page=100`);
      const sum = list.reduce((n: number, o: any) => n + o.used_gb, 0);
      return Math.abs(sum - 900) <= list.length ? list : undefined;
    });
    expect(osds.filter((o: any) => o.used_gb > 0).length).toBeGreaterThan(3);
    for (const o of osds) expect(o.used_gb).toBeLessThan(o.capacity_gb);
    // Data is where PGs are: an OSD without PGs stores nothing (the per-PG share is the sandbox driver test's).
    for (const o of osds) if (o.pgs === 0) expect(o.used_gb).toBe(0);

    // The cluster list: used beside raw, in TiB with two decimals.
    const list = await get('/v1/clusters');
    expect(list.find((c: any) => c.id === clusterId).used_capacity_tib).toBe(
      Math.round((hl.capacity.used_bytes / TIB) * 100) / 100,
    );

    await writeSandboxPoolData(h.db, clusterId, -300 * GB, 'usage-data');
    const emptied = await until(
      'used capacity after the delete',
      async () => {
        const v = await get(`/v1/clusters/${clusterId}/health`);
        return v.capacity.used_bytes === 0 ? v : undefined;
      },
      2 * INTERVAL_MS + 5000,
    );
    expect(emptied.capacity.avail_bytes).toBe(emptied.capacity.raw_bytes);
    await until('OSDs back at 0 GB', async () => {
      const l = await get(`/v1/clusters/${clusterId}/osds?per_page=100`);
      return l.every((o: any) => o.used_gb === 0);
    });
    expect((await get(`/v1/clusters/${clusterId}`)).used_capacity_tib).toBe(0);
  });

  it("with no monitor running, an operation's closing state refresh records used_gb and used_capacity_tib too", async () => {
    const handle = h.client.workflow.getHandle(monitorWorkflowId(clusterId));
    await handle.terminate('test: only the operation may record usage now');
    await writeSandboxPoolData(h.db, clusterId, 150 * GB, 'usage-data');
    const pool = await h.api('POST', `/v1/clusters/${clusterId}/pools`, {
      name: 'usage-op',
      type: 'replicated',
      application: 'rbd',
    });
    expect([pool.status, pool.body.error]).toEqual([202, undefined]);
    expect((await h.waitForOperation(pool.body.data.operation_id)).status).toBe('completed');
    const osds = await get(`/v1/clusters/${clusterId}/osds?per_page=100`);
    const usedGb = osds.reduce((n: number, o: any) => n + o.used_gb, 0);
    expect(Math.abs(usedGb - 450)).toBeLessThanOrEqual(osds.length);
    const cluster = await get(`/v1/clusters/${clusterId}`);
    expect(cluster.used_capacity_tib).toBe(Math.round(((450 * GB) / TIB) * 100) / 100);
    // The health row is the monitor's: it still shows its last round (nothing used).
    expect((await get(`/v1/clusters/${clusterId}/health`)).capacity.used_bytes).toBe(0);
  });
});
