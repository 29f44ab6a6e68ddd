/**
 * One-shot setup of a deployment (the `setup` service of docker-compose.yml; any orchestrator can
 * run it the same way before rolling out the api and worker):
 *
 *   1. waits for PostgreSQL, applies the migrations;
 *   2. waits for Temporal, registers the namespace when missing (the bare server has none), then
 *      NodeFoundry's search attributes where missing.
 *
 * Idempotent: running it again changes nothing. Reads the same environment as the services
 * (lib/config.ts). Exit code 0 when both are ready.
 *
 *   node --import tsx scripts/deploy-setup.ts
 */
import { createDb, pingDatabase } from '../db/database';
import { migrateToLatest } from '../db/migrate';
import { loadConfig } from '../lib/config';
import { ensureSearchAttributes, waitForTemporal } from './lib/temporal-dev-server';
import { ensureNamespace } from './lib/temporal-namespace';

const say = (line: string): void => void process.stdout.write(`setup: ${line}\n`);

async function retry<T>(what: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(e as Error).message}`);
      if (attempt === 1 || attempt % 10 === 0) say(`waiting for ${what} (${(e as Error).message})`);
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
}

async function main(): Promise<void> {
  const config = loadConfig();

  const db = createDb(config.databaseUrl, 2);
  try {
    await retry('PostgreSQL', 120_000, () => pingDatabase(db));
    const applied = await migrateToLatest(db);
    say(applied.length ? `applied migrations: ${applied.join(', ')}` : 'database schema is up to date');
  } finally {
    await db.destroy();
  }

  const { address, namespace } = config.temporal;
  // The bare server (temporalio/server, as docker-compose.yml runs it) has no namespace until one is
  // registered; a first start can take minutes on a slow disk.
  if (await ensureNamespace(address, namespace, 600_000)) say(`registered namespace ${namespace} (retention 72 h)`);
  say(`waiting for Temporal at ${address}, namespace ${namespace}`);
  await waitForTemporal(address, [namespace], 600_000);
  // Right after the namespace appears, adding attributes can still fail for a moment.
  const added = await retry('Temporal search attributes', 120_000, () => ensureSearchAttributes(address, namespace));
  say(added.length ? `registered search attributes: ${added.join(', ')}` : 'search attributes are registered');
  say(`ready (Temporal ${address}, namespace ${namespace})`);
}

main().catch((e: unknown) => {
  process.stderr.write(`setup: failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
