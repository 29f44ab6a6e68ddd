import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDb, type Db } from '../db/database';
import { loadConfig, type Config } from '../lib/config';
import { createLogger, type Logger } from '../lib/logger';
import { connectTemporalClient } from '../lib/temporal';
import { createApp } from './app';
import { startApiInstance, type ApiInstance } from './instance';
import { KeyCache } from './key-cache';

export interface RunningApi {
  url: string;
  /** This process's api_instances id (deleted on close). */
  instanceId: string;
  close(): Promise<void>;
}

/** How long in-flight requests get to finish on close before their connections are cut. */
const DRAIN_MS = 10_000;

/**
 * Wires the API: one Temporal client for the process, the injected database, the Koa app, an HTTP
 * server on config.host:config.port. `close` stops accepting, lets in-flight requests finish (up to
 * DRAIN_MS), then deletes its api_instances row and closes the Temporal connection. The database belongs to the caller.
 */
export async function startApi(config: Config, deps: { db: Db; logger?: Logger }): Promise<RunningApi> {
  const logger = deps.logger ?? createLogger(config.logLevel, { component: 'api' });
  // Lazy: the API may start before Temporal answers; /readyz says when it does.
  const temporal = await connectTemporalClient(config, { lazy: true });
  let instance: ApiInstance;
  try {
    instance = await startApiInstance(deps.db, config.apiLivenessMs, logger);
  } catch (err) {
    await temporal.connection.close();
    throw err;
  }
  // Lookups of valid keys kept across requests, dropped on every key change (api/key-cache.ts).
  const keyCache = new KeyCache({ databaseUrl: config.databaseUrl, db: deps.db, logger });
  await keyCache.start();
  const app = createApp({ db: deps.db, temporal, config, logger, instanceId: instance.id, keyCache });
  const server = createHttpServer(config, app.callback());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await keyCache.close();
    await instance.stop();
    await temporal.connection.close();
    throw err;
  }
  const { port, address, family } = server.address() as AddressInfo;
  const url = `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
  logger.info('api listening', { url, temporal: config.temporal.address, namespace: config.temporal.namespace });

  let closing: Promise<void> | undefined;
  return {
    url,
    instanceId: instance.id,
    close: () =>
      (closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Keep-alive connections that finish their last request while draining become idle, and
        // would otherwise linger until keepAliveTimeout: close them as they do.
        server.closeIdleConnections();
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        const timer = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
        await closed;
        clearInterval(sweep);
        clearTimeout(timer);
        // No request of this process runs any more: its row goes, so any claim left is free at once.
        await keyCache.close();
        await instance.stop().catch((err: unknown) => logger.warn('api instance not removed', { err: String(err) }));
        await temporal.connection.close();
        logger.info('api stopped');
      })()),
  };
}

/**
 * The HTTP server with explicit slow-client bounds (issue 8 #14), not Node's defaults: a client
 * must send its headers within headersTimeout and its whole request within requestTimeout (else
 * 408 and the connection is closed), and an idle keep-alive connection is closed after
 * keepAliveTimeout. Node checks the first two every connectionsCheckingInterval (30 s by default,
 * so a 10 s bound would hold 40 s): checked at a quarter of the headers bound, at most every second.
 */
export function createHttpServer(config: Config, listener: http.RequestListener): http.Server {
  const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs } = config.http;
  const server = http.createServer(
    {
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(25, Math.min(1_000, Math.floor(headersTimeoutMs / 4))),
    },
    listener,
  );
  server.headersTimeout = headersTimeoutMs;
  server.requestTimeout = requestTimeoutMs;
  server.keepAliveTimeout = keepAliveTimeoutMs;
  return server;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, { component: 'api' });
  const db = createDb(config.databaseUrl);
  const api = await startApi(config, { db, logger });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    api
      .close()
      .then(() => db.destroy())
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error('shutdown failed', { err: String(err) });
        process.exit(1);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`nodefoundry api: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
