import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ActivityDeps } from './deps';
import type { PowerState } from '../drivers/types';
import { bmcTarget, driversFor, loadNode } from './targets';
import { FAILURE, guarded, permanent, pollUntil, toFailure, withinMs } from './failures';
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
    async powerCommand(input: {
      nodeId: string;
      command: PowerCommand;
    }): Promise<{ sent: boolean; before: PowerState }> {
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
          await ledger.before(input.command === 'on' ? 'power_on_sent' : 'power_off_sent', node.id, {
            node_id: node.id,
            hostname: node.hostname,
            command: input.command,
          });
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

    /**
     * Compensation's power-on after a power-off (soft or hard) was sent at `offSentAt` (ms since
     * the epoch): makes sure the machine ends up on. During an ACPI shutdown the BMC still reads
     * "on" although the machine is about to go off, so a read during the transition never stands
     * for the end state: first wait for the machine to reach off, bounded by the power wait counted
     * from when the off was sent; then power it on and wait for on. A machine still on once that
     * bound has passed never went off (the OS ignored the power button) and is left running.
     * Resumes from its heartbeat after a lost worker: an `on` once sent is never preceded by
     * another wait for off.
     */
    async ensurePoweredOn(input: {
      nodeId: string;
      offSentAt: number;
    }): Promise<{ outcome: 'powered_on' | 'stayed_on'; offAfterMs: number | null }> {
      const ctx = Context.current();
      const node = await loadNode(deps, input.nodeId);
      const power = driversFor(deps, node).power;
      const bmc = bmcTarget(deps, node);
      const { pollIntervalMs, waits } = deps.config;
      const prev = ctx.info.heartbeatDetails as { onSentAt?: number; offAfterMs?: number | null } | undefined;
      let onSentAt = prev?.onSentAt ?? null;
      let offAfterMs = prev?.offAfterMs ?? null;
      const read = async (): Promise<PowerState | Error> => {
        try {
          // A BMC that does not answer must not stop the loop (and its heartbeat) either.
          return await withinMs(
            Math.max(pollIntervalMs, Math.min(25_000, waits.powerMs)),
            `${node.hostname}'s BMC to answer`,
            () => power.status(bmc),
          );
        } catch (err) {
          const f = toFailure(err);
          if (f instanceof ApplicationFailure && f.nonRetryable) throw f;
          return err instanceof Error ? err : new Error(String(err));
        }
      };

      if (onSentAt === null) {
        const offDeadline = input.offSentAt + waits.powerMs;
        let last: PowerState | Error;
        for (;;) {
          last = await read();
          if (last === 'off' || Date.now() >= offDeadline) break;
          ctx.heartbeat({ onSentAt, offAfterMs, waitingFor: `${node.hostname} to finish powering off` });
          await ctx.sleep(Math.min(pollIntervalMs, Math.max(1, offDeadline - Date.now())));
        }
        if (last === 'on') return { outcome: 'stayed_on', offAfterMs: null };
        if (last instanceof Error) {
          throw ApplicationFailure.create({
            type: FAILURE.bmcUnreachable,
            message: `Could not read ${node.hostname}'s power state to power it back on: ${last.message}`,
            nonRetryable: false,
          });
        }
        offAfterMs = Math.max(0, Date.now() - input.offSentAt);
        await guarded(() => power.on(bmc));
        onSentAt = Date.now();
        ctx.heartbeat({ onSentAt, offAfterMs, waitingFor: `${node.hostname} to power on` });
      }
      const sentAt = onSentAt;
      let lastError = '';
      for (;;) {
        const s = await read();
        if (s === 'on') return { outcome: 'powered_on', offAfterMs };
        lastError = s instanceof Error ? s.message : '';
        const elapsed = Date.now() - sentAt;
        if (elapsed >= waits.powerMs) {
          throw permanent(
            FAILURE.powerTimeout,
            `Timed out after ${Math.round(elapsed / 1000)} s waiting for ${node.hostname} to power on after power on was sent${lastError ? ` (last error: ${lastError})` : ''}.`,
          );
        }
        ctx.heartbeat({ onSentAt, offAfterMs, waitingFor: `${node.hostname} to power on` });
        await ctx.sleep(Math.min(pollIntervalMs, Math.max(1, waits.powerMs - elapsed)));
      }
    },

    /** The configured wait bounds, so a workflow can bound its waits server-side too (local activity). */
    async waitBounds(): Promise<{ powerMs: number; sshMs: number; cephMs: number }> {
      return { ...deps.config.waits };
    },
  };
}
