import {
  getSandboxMachine,
  listDeviceEvents,
  listPowerEvents,
  NOMINAL_BOOT_DELAY_MS,
  seedUnmanagedSandboxCluster,
  setMachineFaults,
  setSandboxClusterFaults,
  type SandboxMachineView,
} from '../../drivers/sandbox';
import { sandboxClusterResponseSchema, setClusterFaultsBodySchema } from '../schemas/upgrades.schemas';
import { getScopedNode } from '../../db/repositories/nodes.repository';
import type { Node } from '../../db/database';
import { idPattern, isId } from '../../lib/ids';
import { authOf, type ApiDeps, type AppContext } from '../context';
import { ApiError } from '../errors';
import { emptyQuerySchema } from '../schemas/common.schemas';
import {
  sandboxMachineResponseSchema,
  seedCephClusterBodySchema,
  seedCephClusterResponseSchema,
  setFaultsBodySchema,
} from '../schemas/sandbox.schemas';
import { bodyValidator, parse, queryValidator } from '../schemas/validation';
import { nodeNotFound } from '../services/nodes.service';
import type { RouteTable } from './route-table';

const validFaults = bodyValidator(setFaultsBodySchema);
const validNoQuery = queryValidator(emptyQuerySchema);
const validClusterFaults = bodyValidator(setClusterFaultsBodySchema);
const validSeed = bodyValidator(seedCephClusterBodySchema);

const nodeIdParam = [
  { name: 'node_id', pattern: idPattern('node'), description: 'The sandbox node whose simulated machine to show.' },
];

/** Sandbox routes exist for sandbox keys only: for a live key there is no such route (404). */
function requireSandbox(ctx: AppContext): void {
  if (authOf(ctx).environment !== 'sandbox') {
    throw new ApiError(
      'route_not_found',
      `No route ${ctx.method} ${ctx.path}: sandbox endpoints need a sandbox (nf_sk_test_) key.`,
    );
  }
}

/**
 * The simulated machine behind a sandbox node. These routes exist for sandbox keys only: for a
 * live key there is no such route (404), so nothing about live hardware can be faked through them.
 */
async function sandboxNode(
  deps: ApiDeps,
  ctx: AppContext & { params: Record<string, string | undefined> },
): Promise<Node> {
  requireSandbox(ctx);
  const auth = authOf(ctx);
  const id = ctx.params.node_id ?? '';
  const node = isId('node', id) ? await getScopedNode(deps.db, auth, id) : undefined;
  if (!node) throw nodeNotFound(id);
  return node;
}

async function machineBody(deps: ApiDeps, node: Node, machine: SandboxMachineView | null) {
  if (!machine) throw new ApiError('sandbox_machine_not_found', `Node ${node.id} has no simulated machine.`);
  const log = await listPowerEvents(deps.db, node.account_id, node.ipmi_address);
  const devices = await listDeviceEvents(deps.db, node.account_id, machine.hostname);
  return {
    data: {
      node_id: node.id,
      machine_id: machine.id,
      hostname: machine.hostname,
      ip_address: machine.ip_address,
      ipmi_address: machine.ipmi_address,
      power_state: machine.power_state,
      running: machine.running,
      shutting_down: machine.shutting_down,
      boot_delay_ms: machine.boot_delay_ms,
      shutdown_delay_ms: machine.shutdown_delay_ms,
      cpu_cores: machine.cpu_cores,
      ram_gb: machine.ram_gb,
      faults: machine.faults,
      power_log: log.map((e) => ({ action: e.action, at: e.at.toISOString(), operation_id: e.operation_id })),
      device_log: devices.map((e) => ({
        action: e.action,
        device: e.device,
        cluster_id: e.cluster_id,
        operation_id: e.operation_id,
        at: e.at.toISOString(),
      })),
    },
  };
}

export function addSandboxRoutes(table: RouteTable, deps: ApiDeps): void {
  table.add(
    {
      method: 'get',
      path: '/v1/sandbox/machines/{node_id}',
      operationId: 'getSandboxMachine',
      summary: 'Inspect a simulated machine (sandbox keys only)',
      description: 'Power state, active faults and the log of every chassis command its BMC accepted.',
      tag: 'Sandbox',
      auth: true,
      pathParams: nodeIdParam,
      responses: { 200: { description: 'The simulated machine.', schema: sandboxMachineResponseSchema } },
    },
    async (ctx) => {
      const node = await sandboxNode(deps, ctx);
      parse(validNoQuery, { ...ctx.query }, 'query');
      ctx.body = await machineBody(deps, node, await getSandboxMachine(deps.db, node.account_id, node.ipmi_address));
    },
  );

  table.add(
    {
      method: 'put',
      path: '/v1/sandbox/machines/{node_id}/faults',
      operationId: 'setSandboxFaults',
      summary: 'Inject faults into a simulated machine (sandbox keys only)',
      description: 'Replaces the set of active faults, to watch operations fail, retry and compensate.',
      tag: 'Sandbox',
      auth: true,
      pathParams: nodeIdParam,
      body: setFaultsBodySchema,
      responses: {
        200: { description: 'The simulated machine with its new faults.', schema: sandboxMachineResponseSchema },
      },
    },
    async (ctx) => {
      const node = await sandboxNode(deps, ctx);
      const body = parse(validFaults, ctx.state.body, 'body');
      parse(validNoQuery, { ...ctx.query }, 'query');
      ctx.body = await machineBody(
        deps,
        node,
        await setMachineFaults(deps.db, node.account_id, node.ipmi_address, body.faults),
      );
    },
  );

  table.add(
    {
      method: 'put',
      path: '/v1/sandbox/clusters/{cluster_id}/faults',
      operationId: 'setSandboxClusterFaults',
      summary: 'Inject cluster-level faults into a simulated Ceph cluster (sandbox keys only)',
      description:
        'Replaces the set of active cluster faults (`health_err`), to watch an upgrade refuse or pause and then resume.',
      tag: 'Sandbox',
      auth: true,
      pathParams: [{ name: 'cluster_id', pattern: idPattern('cluster'), description: 'The sandbox cluster.' }],
      body: setClusterFaultsBodySchema,
      responses: { 200: { description: "The cluster's active faults.", schema: sandboxClusterResponseSchema } },
    },
    async (ctx) => {
      requireSandbox(ctx);
      const auth = authOf(ctx);
      const body = parse(validClusterFaults, ctx.state.body, 'body');
      parse(validNoQuery, { ...ctx.query }, 'query');
      const id = ctx.params.cluster_id ?? '';
      const faults = isId('cluster', id)
        ? await setSandboxClusterFaults(deps.db, auth.accountId, id, body.faults)
        : null;
      if (!faults) throw new ApiError('cluster_not_found', `No sandbox cluster with ID ${id} exists in this account.`);
      ctx.body = { data: { cluster_id: id, faults } };
    },
  );

  table.add(
    {
      method: 'post',
      path: '/v1/sandbox/ceph-clusters',
      operationId: 'seedSandboxCephCluster',
      summary: 'Start a Ceph cluster NodeFoundry does not manage (sandbox keys only)',
      description:
        'Simulates an existing cluster on registered sandbox nodes, as if it had been installed by hand, so that `POST /v1/clusters/import` has something to adopt. The nodes stay ready and in no cluster until an import claims them.',
      tag: 'Sandbox',
      auth: true,
      query: emptyQuerySchema,
      body: seedCephClusterBodySchema,
      responses: {
        201: { description: 'The simulated cluster runs.', schema: seedCephClusterResponseSchema },
        404: { description: '`node_not_found`.' },
        409: {
          description:
            '`node_in_cluster`, `invalid_state` (a node without a healthy drive, or fewer nodes than `replication`).',
        },
      },
    },
    async (ctx) => {
      requireSandbox(ctx);
      const body = parse(validSeed, ctx.state.body, 'body');
      parse(validNoQuery, { ...ctx.query }, 'query');
      const auth = authOf(ctx);
      const nodes: Node[] = [];
      for (const id of body.node_ids) {
        const n = isId('node', id) ? await getScopedNode(deps.db, auth, id) : undefined;
        if (!n) throw nodeNotFound(id);
        if (n.cluster_id)
          throw new ApiError(
            'node_in_cluster',
            `Node ${n.id} (${n.hostname}) is a member of cluster ${n.cluster_id}.`,
            { field: 'node_ids' },
          );
        if (!n.drives.some((d) => d.smart_ok))
          throw new ApiError('invalid_state', `Node ${n.id} (${n.hostname}) has no drive that passed SMART.`, {
            field: 'node_ids',
          });
        nodes.push(n);
      }
      if (nodes.length < body.replication) {
        throw new ApiError(
          'invalid_state',
          `replication ${body.replication} needs at least ${body.replication} nodes.`,
          { field: 'replication' },
        );
      }
      const machine = await getSandboxMachine(deps.db, auth.accountId, nodes[0]!.ipmi_address);
      const speed = machine && NOMINAL_BOOT_DELAY_MS > 0 ? machine.boot_delay_ms / NOMINAL_BOOT_DELAY_MS : 1;
      const hosts = nodes.map((n) => ({
        hostname: n.hostname,
        ipmiAddress: n.ipmi_address,
        osdDevices: n.drives.filter((d) => d.smart_ok).map((d) => d.device),
      }));
      const { fsid } = await seedUnmanagedSandboxCluster(
        deps.db,
        { accountId: auth.accountId, hosts, cephVersion: body.ceph_version, replication: body.replication },
        speed,
      );
      ctx.status = 201;
      ctx.body = {
        data: { fsid, hosts: hosts.map((h) => h.hostname), osds: hosts.reduce((n, h) => n + h.osdDevices.length, 0) },
      };
    },
  );
}
