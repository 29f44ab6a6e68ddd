import { getSandboxMachine, listPowerEvents, setMachineFaults, setSandboxClusterFaults, type SandboxMachineView } from '../../drivers/sandbox';
import { sandboxClusterResponseSchema, setClusterFaultsBodySchema } from '../schemas/upgrades.schemas';
import { getScopedNode } from '../../db/repositories/nodes.repository';
import type { Node } from '../../db/database';
import { idPattern, isId } from '../../lib/ids';
import { authOf, type ApiDeps, type AppContext } from '../context';
import { ApiError } from '../errors';
import { emptyQuerySchema } from '../schemas/common.schemas';
import { sandboxMachineResponseSchema, setFaultsBodySchema } from '../schemas/sandbox.schemas';
import { bodyValidator, parse, queryValidator } from '../schemas/validation';
import { nodeNotFound } from '../services/nodes.service';
import type { RouteTable } from './route-table';

const validFaults = bodyValidator(setFaultsBodySchema);
const validNoQuery = queryValidator(emptyQuerySchema);
const validClusterFaults = bodyValidator(setClusterFaultsBodySchema);

const nodeIdParam = [{ name: 'node_id', pattern: idPattern('node'), description: 'The sandbox node whose simulated machine to show.' }];

/**
 * The simulated machine behind a sandbox node. These routes exist for sandbox keys only: for a
 * live key there is no such route (404), so nothing about live hardware can be faked through them.
 */
async function sandboxNode(deps: ApiDeps, ctx: AppContext & { params: Record<string, string | undefined> }): Promise<Node> {
  const auth = authOf(ctx);
  if (auth.environment !== 'sandbox') {
    throw new ApiError('route_not_found', `No route ${ctx.method} ${ctx.path}: sandbox endpoints need a sandbox (nf_sk_test_) key.`);
  }
  const id = ctx.params.node_id ?? '';
  const node = isId('node', id) ? await getScopedNode(deps.db, auth, id) : undefined;
  if (!node) throw nodeNotFound(id);
  return node;
}

async function machineBody(deps: ApiDeps, node: Node, machine: SandboxMachineView | null) {
  if (!machine) throw new ApiError('sandbox_machine_not_found', `Node ${node.id} has no simulated machine.`);
  const log = await listPowerEvents(deps.db, node.account_id, node.ipmi_address);
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
      power_log: log.map((e) => ({ action: e.action, at: e.at.toISOString() })),
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
      responses: { 200: { description: 'The simulated machine with its new faults.', schema: sandboxMachineResponseSchema } },
    },
    async (ctx) => {
      const node = await sandboxNode(deps, ctx);
      const body = parse(validFaults, ctx.state.body, 'body');
      parse(validNoQuery, { ...ctx.query }, 'query');
      ctx.body = await machineBody(deps, node, await setMachineFaults(deps.db, node.account_id, node.ipmi_address, body.faults));
    },
  );

  table.add(
    {
      method: 'put',
      path: '/v1/sandbox/clusters/{cluster_id}/faults',
      operationId: 'setSandboxClusterFaults',
      summary: 'Inject cluster-level faults into a simulated Ceph cluster (sandbox keys only)',
      description: 'Replaces the set of active cluster faults (`health_err`), to watch an upgrade refuse or pause and then resume.',
      tag: 'Sandbox',
      auth: true,
      pathParams: [{ name: 'cluster_id', pattern: idPattern('cluster'), description: 'The sandbox cluster.' }],
      body: setClusterFaultsBodySchema,
      responses: { 200: { description: 'The cluster\'s active faults.', schema: sandboxClusterResponseSchema } },
    },
    async (ctx) => {
      const auth = authOf(ctx);
      if (auth.environment !== 'sandbox') {
        throw new ApiError('route_not_found', `No route ${ctx.method} ${ctx.path}: sandbox endpoints need a sandbox (nf_sk_test_) key.`);
      }
      const body = parse(validClusterFaults, ctx.state.body, 'body');
      parse(validNoQuery, { ...ctx.query }, 'query');
      const id = ctx.params.cluster_id ?? '';
      const faults = isId('cluster', id) ? await setSandboxClusterFaults(deps.db, auth.accountId, id, body.faults) : null;
      if (!faults) throw new ApiError('cluster_not_found', `No sandbox cluster with ID ${id} exists in this account.`);
      ctx.body = { data: { cluster_id: id, faults } };
    },
  );
}
