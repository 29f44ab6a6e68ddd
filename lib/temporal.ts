import { Client, Connection } from '@temporalio/client';
import type { Config } from './config';

/**
 * The process's one Temporal client (STYLE 5): built in main.ts and injected everywhere else.
 *
 * `lazy` does not wait for the server: the API comes up before Temporal does (docker-compose start
 * order, a Temporal restart) and `/readyz` reports the truth until it is reachable; gRPC reconnects
 * on its own. Without it, the connection is verified and a wrong address fails at start.
 */
export async function connectTemporalClient(config: Config, options: { lazy?: boolean } = {}): Promise<Client> {
  const connectionOptions = { address: config.temporal.address };
  const connection = options.lazy ? Connection.lazy(connectionOptions) : await Connection.connect(connectionOptions);
  return new Client({ connection, namespace: config.temporal.namespace });
}

/** Answers whether the Temporal frontend responds within `timeoutMs`. */
export async function pingTemporal(client: Client, timeoutMs = 2000): Promise<boolean> {
  try {
    await client.connection.withDeadline(Date.now() + timeoutMs, () => client.workflowService.getSystemInfo({}));
    return true;
  } catch {
    return false;
  }
}
