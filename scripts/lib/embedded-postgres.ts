import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * PostgreSQL built to WASM (PGlite), persisted in `dataDir` and served over the PostgreSQL wire
 * protocol on 127.0.0.1, so the application talks plain `pg` to it exactly as to a real server.
 *
 * PGlite is one single-user backend: the socket server queues every protocol message and, while a
 * connection is inside BEGIN … COMMIT, runs only that connection's messages. Other connections
 * wait, so transactions are serialized (see docs/development.md for what that means for the code).
 * For `npm start` only; tests, CI and production use a real PostgreSQL server.
 */
export interface EmbeddedPostgres {
  /** postgres://… URL of the socket server. */
  readonly url: string;
  readonly port: number;
  readonly server: PGLiteSocketServer;
  /** Closes every connection, stops listening, and flushes and closes the database. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /**
   * Connections beyond this are refused with a non-protocol message, so it must exceed the sum of
   * every pool in the process plus CLI clients. Idle connections cost a socket and nothing else.
   */
  maxConnections?: number;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const db = await PGlite.create({ dataDir: options.dataDir });
  const host = options.host ?? '127.0.0.1';
  const server = new PGLiteSocketServer({ db, host, port: options.port ?? 0, maxConnections: options.maxConnections ?? 64 });
  try {
    await server.start();
  } catch (e) {
    await db.close();
    throw e;
  }
  // getServerConn() is "host:port" with the port actually bound (also when 0 was asked for).
  const port = Number(server.getServerConn().split(':').pop());
  let stopped = false;
  return {
    // PGlite has one database ("postgres") and does not check user names or passwords.
    url: `postgres://postgres:postgres@${host}:${port}/postgres`,
    port,
    server,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      await db.close();
    },
  };
}
