import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFile, rm } from 'node:fs/promises';
import pg from 'pg';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { createDb } from '../../db/database';
import { migrateToLatest } from '../../db/migrate';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../workflows/contracts';
import { freePort, isListening } from '../../scripts/lib/ports';

/**
 * One real PostgreSQL database and one real Temporal dev server per `npm test` run, shared by every
 * test file. Tests isolate themselves by account (database) and by task queue (Temporal).
 *
 * DATABASE_URL names a server and a database we may create others next to; a fresh database
 * `<name>_test_<pid>` is created, migrated, and dropped at the end.
 * TEMPORAL_ADDRESS, when set, is used as is; otherwise the Temporal CLI (NF_TEMPORAL_BIN, or the
 * cached build from scripts/ensure-temporal.sh) is started in memory on a free port.
 */
let temporal: ChildProcess | undefined;
let dropDb: (() => Promise<void>) | undefined;

interface SharedSetup {
  provided: { databaseUrl: string; workflowBundlePath: string; temporalAddress: string };
  users: number;
  teardown: () => Promise<void>;
}
const SHARED = Symbol.for('nodefoundry.test.global-setup');
type WithShared = typeof globalThis & { [SHARED]?: Promise<SharedSetup> };

/**
 * Every project that runs this setup (integration, lab: vitest.config.ts) shares one database and
 * one dev server: vitest loads the file once per project, so the state lives on globalThis of the
 * main process, and the last project's teardown stops them.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const g = globalThis as WithShared;
  g[SHARED] ??= startShared();
  const shared = await g[SHARED];
  shared.users += 1;
  project.provide('databaseUrl', shared.provided.databaseUrl);
  project.provide('workflowBundlePath', shared.provided.workflowBundlePath);
  project.provide('temporalAddress', shared.provided.temporalAddress);
  return async () => {
    shared.users -= 1;
    if (shared.users > 0) return;
    delete g[SHARED];
    await shared.teardown();
  };
}

async function startShared(): Promise<SharedSetup> {
  const baseUrl = process.env.DATABASE_URL;
  if (!baseUrl) {
    throw new Error('DATABASE_URL is not set: npm test needs a real PostgreSQL server (scripts/test.sh sets it up).');
  }
  const url = new URL(baseUrl);
  const testDbName = `${url.pathname.slice(1) || 'nodefoundry'}_test_${process.pid}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${testDbName}"`);
  await admin.query(`CREATE DATABASE "${testDbName}"`);
  await admin.end();
  url.pathname = `/${testDbName}`;
  const testUrl = url.toString();
  const db = createDb(testUrl, 2);
  await migrateToLatest(db);
  await db.destroy();
  dropDb = async () => {
    const c = new pg.Client({ connectionString: baseUrl });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "${testDbName}" WITH (FORCE)`);
    await c.end();
  };

  let temporalAddress = process.env.TEMPORAL_ADDRESS;
  if (!temporalAddress) {
    const bin = process.env.NF_TEMPORAL_BIN ?? path.join(os.homedir(), '.cache/nodefoundry/bin/temporal');
    if (!existsSync(bin)) {
      throw new Error(`Temporal CLI not found at ${bin}: run scripts/ensure-temporal.sh (npm test does).`);
    }
    // The dev server also binds ports of its own choosing (HTTP API, metrics, internal services):
    // a port taken between our choice and its bind (another test run starting) makes it exit at
    // once. Then it is started again on other ports.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const uiPort = await freePort();
      const args = [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(port),
        '--ui-port',
        String(uiPort),
        '--log-level',
        'error',
      ];
      for (const sa of SEARCH_ATTRIBUTE_DEFINITIONS) args.push('--search-attribute', sa);
      temporal = spawn(bin, args, { stdio: ['ignore', 'ignore', 'inherit'] });
      temporalAddress = `127.0.0.1:${port}`;
      try {
        await waitForPort(port, 60_000);
        break;
      } catch (err) {
        if (attempt >= 3 || temporal.exitCode === null) {
          temporal.kill('SIGKILL');
          throw err;
        }
        console.error(
          `${(err as Error).message} (attempt ${attempt} of 3, port ${port}): starting it again on other ports`,
        );
      }
    }
  }

  // One workflow bundle for the whole run: bundling takes seconds, and every test file needs it.
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.resolve(__dirname, '../../workflows/index.ts'),
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => console.error(m), log() {} } as never,
  });
  const bundlePath = path.join(os.tmpdir(), `nodefoundry-workflows-${process.pid}.js`);
  await writeFile(bundlePath, code);

  const provided = { databaseUrl: testUrl, workflowBundlePath: bundlePath, temporalAddress };
  const teardown = async () => {
    if (temporal && temporal.exitCode === null) {
      temporal.kill('SIGTERM');
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          temporal?.kill('SIGKILL');
          resolve();
        }, 10_000);
        temporal?.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    await dropDb?.();
    await rm(bundlePath, { force: true });
  };
  return { provided, users: 0, teardown };
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await isListening(port)) return;
    if (temporal && temporal.exitCode !== null) throw new Error(`Temporal dev server exited with ${temporal.exitCode}`);
    if (Date.now() > deadline) throw new Error(`Temporal dev server did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    temporalAddress: string;
    workflowBundlePath: string;
  }
}
