import { act } from './activity-proxies';
import type { RegisterNodeInput } from './contracts';
import { OperationTracker } from './operation-tracker';
import { OPERATIONS } from './registry';
import { runOperation, undoAll } from './run-operation';

/**
 * Registers a node: SSH in and pin the host key, read CPU, memory, drives and SMART health, check
 * the BMC answers with the given credentials, then mark the node ready. A failure leaves the node in
 * `error` with the reason, never half-registered and silently `pending`.
 */
export async function registerNodeWorkflow(input: RegisterNodeInput): Promise<Record<string, unknown>> {
  const op = new OperationTracker(OPERATIONS['node.register'].steps);
  const { nodeId } = input;
  return runOperation(input.operationId, op, {
    run: async () => {
      const inv = await op.step('inventory', async () => {
        const r = await act.inventoryNode.executeWithOptions({ summary: `SSH inventory of ${nodeId}` }, [{ nodeId }]);
        op.log(`host key pinned: ${r.ssh_host_key_fingerprint}`);
        for (const w of r.warnings) op.log(`inventory warning: ${w}`);
        op.log(
          `${r.cpu_cores} CPU cores, ${r.ram_gb} GB RAM, ${r.drives.length} drives (${r.drives.filter((d) => !d.smart_ok).length} failing SMART)`,
        );
        return r;
      });
      const bmc = await op.step('check_bmc', async () => {
        const r = await act.checkBmc.executeWithOptions({ summary: `IPMI power status of ${nodeId}` }, [{ nodeId }]);
        op.log(`BMC answered: power ${r.power}`);
        return r;
      });
      await op.step('mark_ready', () =>
        act.setNodeStatus.executeWithOptions({ summary: 'node ready' }, [{ nodeId, status: 'ready' }]),
      );
      return {
        node_id: nodeId,
        cpu_cores: inv.cpu_cores,
        ram_gb: inv.ram_gb,
        drives: inv.drives.length,
        ssh_host_key_fingerprint: inv.ssh_host_key_fingerprint,
        power: bmc.power,
      };
    },
    compensate: (o, why) =>
      undoAll(
        [
          {
            what: 'mark the node as failed registration',
            when: true,
            run: () =>
              act.setNodeStatusUndo.executeWithOptions({ summary: 'node error' }, [
                {
                  nodeId,
                  status: 'error',
                  reason: `registration ${why.code === 'cancelled' ? 'cancelled' : 'failed'}: ${why.message}`,
                },
              ]),
          },
        ],
        o,
      ),
  });
}
