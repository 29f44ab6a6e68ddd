import type { ActivityDeps } from './deps';
import type { PowerState } from '../drivers/types';
import { bmcTarget, driversFor, loadNode } from './targets';
import { FAILURE, guarded, permanent, pollUntil } from './failures';
import { createLedger } from './change-ledger';

export type PowerCommand = 'on' | 'off' | 'soft';

export function createPowerActivities(deps: ActivityDeps) {
  const ledger = createLedger(deps);
  return {
    async powerStatus(input: { nodeId: string }): Promise<PowerState> {
      return guarded(async () => {
        const node = await loadNode(deps, input.nodeId);
        return driversFor(deps, node).power.status(bmcTarget(deps, node));
      });
    },

    /**
     * Sends one chassis command. Idempotent by checking first: a retry after the BMC took the command
     * but the reply was lost must not send it twice (a second `soft` is harmless, a second `on`
     * after the machine reached "on" is skipped, an `off` to a machine already off is skipped).
     */
    async powerCommand(input: { nodeId: string; command: PowerCommand }): Promise<{ sent: boolean; before: PowerState }> {
      return guarded(async () => {
        const node = await loadNode(deps, input.nodeId);
        if (node.held && input.command !== 'on') {
          throw permanent(FAILURE.nodeHeld, `Node ${node.hostname} is on hold; refusing to power it off.`);
        }
        const power = driversFor(deps, node).power;
        const bmc = bmcTarget(deps, node);
        const before = await power.status(bmc);
        const want: PowerState = input.command === 'on' ? 'on' : 'off';
        if (before === want) return { sent: false, before };
        // Ledger, before the command: a command that undoes this operation's own earlier one (on
        // after its off, off after its on) is no new change; the wait that confirms it closes the entry.
        const undoing = await ledger.open(input.command === 'on' ? 'power_off_sent' : 'power_on_sent', node.id);
        if (!undoing) {
          await ledger.before(input.command === 'on' ? 'power_on_sent' : 'power_off_sent', node.id, { node_id: node.id, hostname: node.hostname, command: input.command });
        }
        if (input.command === 'on') await power.on(bmc);
        else if (input.command === 'off') await power.off(bmc);
        else await power.soft(bmc);
        if (undoing && input.command !== 'on') await ledger.undone('power_on_sent', node.id);
        return { sent: true, before };
      });
    },

    /** Polls the BMC until the machine reports `state`, within the configured bound. */
    async waitForPower(input: { nodeId: string; state: PowerState }): Promise<void> {
      const node = await loadNode(deps, input.nodeId);
      const power = driversFor(deps, node).power;
      const bmc = bmcTarget(deps, node);
      await pollUntil({
        intervalMs: deps.config.pollIntervalMs,
        timeoutMs: deps.config.waits.powerMs,
        timeoutType: FAILURE.powerTimeout,
        what: `${node.hostname} to power ${input.state}`,
        probe: async () => ((await power.status(bmc)) === input.state ? true : undefined),
      });
      await ledger.undone(input.state === 'on' ? 'power_off_sent' : 'power_on_sent', node.id);
    },
  };
}
