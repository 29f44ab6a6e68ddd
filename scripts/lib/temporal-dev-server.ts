import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../workflows/contracts';
import { isListening } from './ports';

/**
 * The Temporal CLI dev server for `npm start`: one process, SQLite persistence in the data
 * directory, the Web UI, NodeFoundry's search attributes registered at launch.
 */
export interface TemporalDevServer {
  readonly address: string;
  readonly uiUrl: string;
  readonly pid: number;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  /** Synchronous last resort for process 'exit' handlers. */
  killNow(): void;
}

export interface TemporalDevServerOptions {
  bin: string;
  dbFile: string;
  logFile: string;
  pidFile: string;
  ip?: string;
  port?: number;
  uiPort?: number;
  /** Namespaces besides "default" (always created by the dev server). */
  namespaces?: readonly string[];
  readyTimeoutMs?: number;
}

export async function startTemporalDevServer(o: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const ip = o.ip ?? '127.0.0.1';
  const port = o.port ?? 7233;
  const uiPort = o.uiPort ?? 8233;
  await stopOrphan(o.pidFile, o.dbFile);
  for (const [p, what] of [
    [port, 'gRPC'],
    [uiPort, 'Web UI'],
  ] as const) {
    if (await isListening(p, ip)) {
      throw new Error(
        `port ${ip}:${p} (Temporal ${what}) is already in use. Stop whatever listens there (another \`npm start\`, ` +
          `another Temporal dev server), or use that server: TEMPORAL_ADDRESS=${ip}:${port} npm start`,
      );
    }
  }

  const args = [
    'server',
    'start-dev',
    '--db-filename',
    o.dbFile,
    '--ip',
    ip,
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
  ];
  for (const ns of o.namespaces ?? []) if (ns !== 'default') args.push('--namespace', ns);
  for (const sa of SEARCH_ATTRIBUTE_DEFINITIONS) args.push('--search-attribute', sa);

  const log = openSync(o.logFile, 'a');
  writeFileSync(log, `\n---- ${new Date().toISOString()} ${o.bin} ${args.join(' ')}\n`);
  let child: ChildProcess;
  try {
    // Own process group: Ctrl-C in the terminal reaches only `npm start`, which stops the worker
    // first and Temporal last (a worker whose server vanished first logs a storm of errors).
    child = spawn(o.bin, args, { stdio: ['ignore', log, log], detached: true });
  } finally {
    closeSync(log);
  }
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))),
  );
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  spawnError.catch(() => {});
  const pid = child.pid;
  if (pid === undefined) await spawnError;
  writeFileSync(o.pidFile, `${pid!}\n`);

  const server: TemporalDevServer = {
    address: `${ip}:${port}`,
    uiUrl: `http://${ip}:${uiPort}`,
    pid: pid!,
    async stop(graceMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      rmSync(o.pidFile, { force: true });
    },
    killNow() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(o.pidFile, { force: true });
    },
  };

  try {
    await Promise.race([
      waitForTemporal(server.address, ['default', ...(o.namespaces ?? [])], o.readyTimeoutMs ?? 90_000),
      exited.then((code) => {
        throw new Error(
          `the Temporal dev server exited with ${code} during start; last lines of ${o.logFile}:\n${tail(o.logFile, 15)}`,
        );
      }),
      spawnError,
    ]);
  } catch (e) {
    await server.stop(5_000);
    throw e;
  }
  return server;
}

/** Resolves when the server at `address` answers and every namespace exists. */
export async function waitForTemporal(
  address: string,
  namespaces: readonly string[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 2_000 });
      for (const namespace of new Set(namespaces)) {
        await connection.workflowService.describeNamespace({ namespace });
      }
      return;
    } catch (e) {
      last = e;
    } finally {
      await connection?.close().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `Temporal at ${address} is not ready after ${timeoutMs} ms: ${(last as Error | undefined)?.message ?? 'no answer'}`,
  );
}

const INDEXED_VALUE_TYPE: Record<string, number> = {
  Text: 1,
  Keyword: 2,
  Int: 3,
  Double: 4,
  Bool: 5,
  Datetime: 6,
  KeywordList: 7,
};

/**
 * Registers NodeFoundry's search attributes on a server we did not start (TEMPORAL_ADDRESS).
 * Returns the names it added. The dev server started here gets them with --search-attribute.
 */
export async function ensureSearchAttributes(address: string, namespace: string): Promise<string[]> {
  const connection = await Connection.connect({ address, connectTimeout: 5_000 });
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing: Record<string, number> = {};
    for (const def of SEARCH_ATTRIBUTE_DEFINITIONS) {
      const [name, type] = def.split('=') as [string, string];
      if (!customAttributes?.[name]) missing[name] = INDEXED_VALUE_TYPE[type]!;
    }
    if (Object.keys(missing).length > 0) {
      await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
    }
    return Object.keys(missing);
  } finally {
    await connection.close();
  }
}

/**
 * A previous `npm start` that was killed outright (SIGKILL, a crashed terminal) leaves its Temporal
 * dev server running in its own process group. Stop it, but only if the pid still is a dev server
 * on this data directory's database (pids are reused).
 */
async function stopOrphan(pidFile: string, dbFile: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 1) return;
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return; // gone (or not Linux: nothing to recognise it by, leave it alone)
  }
  if (!cmdline.includes('start-dev') || !cmdline.includes(dbFile)) return;
  process.stderr.write(`stopping the Temporal dev server left over from a previous run (pid ${pid})\n`);
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
