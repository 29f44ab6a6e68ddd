import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  monitorWorkflowId,
  planWorkflowIdFor,
  SA_CLUSTER_NAME,
  SA_HOSTNAMES,
  upgradeHostWorkflowId,
} from '../../workflows/contracts';
import { startHarness, type Harness, until } from './cluster-harness';

/**
 * Issue 12 item 7: every workflow NodeFoundry starts carries a static summary (Temporal's user
 * metadata, the Web UI's list) naming the operation, the cluster by its name and the hosts by
 * their hostnames — read back from Temporal (DescribeWorkflowExecution) after real starts over the
 * API, with a real worker, the sandbox drivers, Temporal and PostgreSQL.
 */
let h: Harness;
let nodes: { id: string; hostname: string }[];
let clusterId: string;
const CLUSTER = 'summary-prod-a';

async function metadata(workflowId: string): Promise<{ summary: string | undefined; details: string | undefined }> {
  const desc = await h.client.workflow.getHandle(workflowId).describe();
  return { summary: await desc.staticSummary(), details: await desc.staticDetails() };
}

async function operationMetadata(operationId: string) {
  const op = (await h.api('GET', `/v1/operations/${operationId}`)).body.data;
  return metadata(op.temporal.workflow_id as string);
}

beforeAll(async () => {
  // Monitors on (one run lasts the whole file: a continued run carries no summary, docs/operators.md).
  h = await startHarness({
    NF_WAIT_CEPH_MS: '4000',
    NF_MONITOR_INTERVAL_MS: '1000',
    NF_MONITOR_ROUNDS_PER_RUN: '1000',
  });
  nodes = [];
  for (let i = 0; i < 4; i++) nodes.push(await h.registerNode());
  const c = await h.api('POST', '/v1/clusters', {
    name: CLUSTER,
    node_ids: nodes.slice(0, 3).map((n) => n.id),
    ceph_version: 'reef',
  });
  expect(c.status).toBe(202);
  clusterId = c.body.data.id;
  expect((await h.waitForOperation(c.body.data.operation_id)).status).toBe('completed');
}, 120_000);
afterAll(async () => {
  await h?.close();
});

describe('workflow summaries name the operation, the cluster and the hosts', () => {
  it('node registration names the host and its address', async () => {
    const ops = await h.api('GET', `/v1/operations?type=node.register&node_id=${nodes[3]!.id}`);
    expect(ops.status).toBe(200);
    const m = await operationMetadata(ops.body.data[0].id);
    expect(m.summary).toBe(`Register node ${nodes[3]!.hostname} (${(nodes[3] as any).ip_address})`);
    expect(m.details).toContain(nodes[3]!.id);
  });

  it('cluster creation names the cluster and every host; details carry the ids', async () => {
    const ops = await h.api('GET', `/v1/operations?type=cluster.create&cluster_id=${clusterId}`);
    const m = await operationMetadata(ops.body.data[0].id);
    const hosts = nodes.slice(0, 3).map((n) => n.hostname);
    expect(m.summary).toBe(`Create reef cluster ${CLUSTER}: ${hosts.join(', ')}`);
    expect(m.details).toContain(`cluster: ${CLUSTER} (${clusterId})`);
    for (const n of nodes.slice(0, 3)) expect(m.details).toContain(`${n.hostname} (${n.id})`);
  });

  it("the cluster's monitor names the cluster", async () => {
    const m = await metadata(monitorWorkflowId(clusterId));
    expect(m.summary).toBe(`Monitor cluster ${CLUSTER}`);
    expect(m.details).toContain(`cluster: ${CLUSTER} (${clusterId})`);
  });

  it('a dry run names what it plans, with the cluster and hosts', async () => {
    const requestId = `summary-plan-${Date.now()}`;
    const r = await h.api(
      'POST',
      `/v1/clusters/${clusterId}/upgrade?dry_run=true`,
      { ceph_version: 'squid', max_concurrent: 1 },
      { 'x-request-id': requestId },
    );
    expect(r.status).toBe(200);
    const m = await metadata(planWorkflowIdFor('cluster.upgrade', clusterId, requestId));
    expect(m.summary).toBe(
      `Dry run: rolling upgrade to squid of ${CLUSTER}: ${nodes
        .slice(0, 3)
        .map((n) => n.hostname)
        .join(', ')}`,
    );
  });

  it('a reboot names the host and its cluster', async () => {
    const r = await h.api('POST', `/v1/nodes/${nodes[1]!.id}/reboot`, { method: 'graceful' });
    expect(r.status).toBe(202);
    const m = await operationMetadata(r.body.data.operation_id);
    expect(m.summary).toBe(`Reboot ${nodes[1]!.hostname} of cluster ${CLUSTER} (graceful)`);
    expect((await h.waitForOperation(r.body.data.operation_id)).status).toBe('completed');
  });

  it("the Web UI's list can show and filter by the names: NfClusterName and NfHostnames", async () => {
    // The list of Temporal Server 1.29 carries no summary; these search attributes can be its columns.
    const idsOf = async (query: string) => {
      const ids: string[] = [];
      for await (const w of h.client.workflow.list({ query })) ids.push(w.workflowId);
      return ids;
    };
    const create = (await h.api('GET', `/v1/operations?type=cluster.create&cluster_id=${clusterId}`)).body.data[0];
    const byCluster = await until(`workflows of ${CLUSTER} listed by name`, async () => {
      const ids = await idsOf(`NfClusterName = '${CLUSTER}'`);
      return ids.includes(create.temporal.workflow_id) && ids.includes(monitorWorkflowId(clusterId)) && ids;
    });
    expect(byCluster.length).toBeGreaterThanOrEqual(2);
    const d = await h.client.workflow.getHandle(create.temporal.workflow_id).describe();
    expect(d.typedSearchAttributes.get(SA_CLUSTER_NAME)).toBe(CLUSTER);
    expect(d.typedSearchAttributes.get(SA_HOSTNAMES)).toEqual(nodes.slice(0, 3).map((n) => n.hostname));
    const reg = (await h.api('GET', `/v1/operations?type=node.register&node_id=${nodes[3]!.id}`)).body.data[0];
    const byHost = await until(`${nodes[3]!.hostname}'s workflows listed by hostname`, async () => {
      const ids = await idsOf(`NfHostnames = '${nodes[3]!.hostname}'`);
      return ids.includes(reg.temporal.workflow_id) && ids;
    });
    // Another host's name finds none of this one's registration.
    expect(byHost).not.toContain(
      (await h.api('GET', `/v1/operations?type=node.register&node_id=${nodes[0]!.id}`)).body.data[0].temporal
        .workflow_id,
    );
  });

  it("an OSD reweight names the OSD's host and the cluster", async () => {
    const osds = await h.api('GET', `/v1/clusters/${clusterId}/osds`);
    expect(osds.status).toBe(200);
    const osd = osds.body.data[0];
    const host = nodes.find((n) => n.id === osd.node_id)!.hostname;
    const r = await h.api('POST', `/v1/clusters/${clusterId}/osds/${osd.osd_id}/reweight`, { weight: 0.5 });
    expect(r.status).toBe(202);
    const m = await operationMetadata(r.body.data.operation_id);
    expect(m.summary).toBe(`Reweight osd.${osd.osd_id} on ${host} of cluster ${CLUSTER} to 0.5`);
    expect((await h.waitForOperation(r.body.data.operation_id)).status).toBe('completed');
  });

  it("a rolling upgrade names the cluster and its hosts; each host's child names its host", async () => {
    const r = await h.api('POST', `/v1/clusters/${clusterId}/upgrade`, {
      ceph_version: 'squid',
      max_concurrent: 1,
      os_packages: false,
    });
    expect(r.status).toBe(202);
    const opId = r.body.data.operation_id;
    const m = await operationMetadata(opId);
    const hosts = nodes.slice(0, 3).map((n) => n.hostname);
    expect(m.summary).toBe(`Rolling upgrade to squid of ${CLUSTER} (≤ 1 at once): ${hosts.join(', ')}`);
    expect((await h.waitForOperation(opId)).status).toBe('completed');
    for (const host of hosts) {
      const child = await metadata(upgradeHostWorkflowId(clusterId, opId, host));
      expect(child.summary).toMatch(new RegExp(`^Upgrade to squid: ${host} of ${CLUSTER} \\(\\d+ OSDs\\)$`));
    }
  }, 120_000);

  it('a pool creation and the cluster deletion name the cluster (and the deletion its hosts)', async () => {
    const p = await h.api('POST', `/v1/clusters/${clusterId}/pools`, { name: 'summary-rbd', type: 'replicated' });
    expect(p.status).toBe(202);
    expect((await operationMetadata(p.body.data.operation_id)).summary).toBe(
      `Create replicated pool summary-rbd in cluster ${CLUSTER}`,
    );
    expect((await h.waitForOperation(p.body.data.operation_id)).status).toBe('completed');
    const d = await h.api('DELETE', `/v1/clusters/${clusterId}`, undefined, { 'x-confirm-delete': 'true' });
    expect(d.status).toBe(202);
    expect((await operationMetadata(d.body.data.operation_id)).summary).toBe(
      `Delete cluster ${CLUSTER}: ${nodes
        .slice(0, 3)
        .map((n) => n.hostname)
        .join(', ')}`,
    );
    expect((await h.waitForOperation(d.body.data.operation_id)).status).toBe('completed');
  });

  it('an import names the new cluster, its admin host and every host', async () => {
    // Only its start matters here: the free node runs no Ceph, so the import fails at discovery.
    const r = await h.api('POST', '/v1/clusters/import', {
      name: 'summary-legacy',
      admin_node_id: nodes[3]!.id,
      node_ids: [nodes[3]!.id],
    });
    expect(r.status).toBe(202);
    expect((await operationMetadata(r.body.data.operation_id)).summary).toBe(
      `Import cluster summary-legacy through ${nodes[3]!.hostname}: ${nodes[3]!.hostname}`,
    );
    expect(['completed', 'failed']).toContain((await h.waitForOperation(r.body.data.operation_id)).status);
  });
});
