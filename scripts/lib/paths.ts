import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The package root (this file is scripts/lib/paths.ts). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * The local data directory of `npm start`: NF_DATA_DIR (relative to the working directory) or
 * `.data` in the package root, whatever the working directory is, so `npm start` and the CLI agree.
 */
export function resolveDataDir(env: Record<string, string | undefined> = process.env): string {
  const dir = env.NF_DATA_DIR;
  return dir ? path.resolve(dir) : path.join(REPO_ROOT, '.data');
}

/** Files `npm start` keeps in the data directory. */
export const DATA_FILES = {
  /** NF_SECRET_KEY of this installation (credentials at rest are encrypted with it), 0600. */
  secretKey: 'secret.key',
  /** The demo account's sandbox key (scripts/lib/bootstrap.ts), 0600. */
  demoKey: 'demo-key',
  /** URL of the embedded PostgreSQL while `npm start` runs it, for the admin CLI. 0600. */
  databaseUrl: 'database-url',
  /** PID of the running `npm start` (one per data directory: one embedded PostgreSQL and Temporal per directory). */
  pid: 'nodefoundry.pid',
  /** PID of the Temporal dev server started by `npm start`, to clean up after a crash. */
  temporalPid: 'temporal.pid',
  temporalDb: 'temporal.db',
  temporalLog: 'temporal.log',
  /** The embedded PostgreSQL's data directory (owned by the system user `postgres` when run as root). */
  postgres: 'postgres',
  /** The password of the embedded PostgreSQL's superuser `nodefoundry`, 0600. */
  postgresPassword: 'postgres.password',
  postgresLog: 'postgres.log',
} as const;

/** DATABASE_URL, else the embedded server's URL that a running `npm start` wrote; undefined if neither. */
export function resolveDatabaseUrl(
  env: Record<string, string | undefined> = process.env,
): { url: string; source: string } | undefined {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, source: 'DATABASE_URL' };
  const file = path.join(resolveDataDir(env), DATA_FILES.databaseUrl);
  try {
    const url = readFileSync(file, 'utf8').trim();
    if (url) return { url, source: file };
  } catch {
    // No file: npm start is not running with the embedded database.
  }
  return undefined;
}
