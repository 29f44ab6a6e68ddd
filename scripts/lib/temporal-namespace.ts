import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';

/**
 * Registers `namespace` on the Temporal server at `address` when it does not exist (retention 72 h).
 * The CLI dev server and the temporalio/auto-setup image create theirs; the bare server
 * (temporalio/server, scripts/topology/up.sh) does not. Returns true when it registered it. Retries
 * while the server starts, for at most `timeoutMs`.
 */
export async function ensureNamespace(address: string, namespace: string, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 5_000 });
      try {
        try {
          await connection.workflowService.describeNamespace({ namespace });
          return false;
        } catch (e) {
          if (!/not found/i.test((e as Error).message)) throw e;
        }
        await connection.workflowService.registerNamespace({
          namespace,
          workflowExecutionRetentionPeriod: msToTs('72h'),
        });
        return true;
      } finally {
        await connection.close();
      }
    } catch (e) {
      // A concurrent register (two setups at once) is success.
      if (/already exists/i.test((e as Error).message)) return false;
      if (Date.now() > deadline) throw new Error(`registering namespace ${namespace}: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}
