/**
 * The Node part of scripts/topology/up.sh, run once the Temporal server listens:
 *
 *   namespace   registers the namespace on the fresh server (the CLI dev server and the
 *               temporalio/auto-setup image do this themselves; the bare server does not);
 *   attributes  waits for the namespace, registers NodeFoundry's search attributes;
 *   database    creates the NodeFoundry database fresh (dropped first), migrates it once, and
 *               creates an enterprise sandbox account with a test key (`nf_sk_test_…`, as
 *               `npm start` prints), printed as `NF_API_KEY=…` on stdout.
 *   drop        drops the NodeFoundry database (down.sh).
 *
 *   node --import tsx scripts/topology/setup.ts namespace|attributes|database|drop
 * Environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE (default "default"), DATABASE_URL (the
 * database to create, on a server whose role may create databases), NF_TOPO_ADMIN_URL (another
 * database on that server to connect to while creating or dropping it).
 */
import pg from 'pg';
import { createDb } from '../../db/database';
import { migrateToLatest } from '../../db/migrate';
import { createAccount } from '../../db/repositories/accounts.repository';
import { createApiKey } from '../../db/repositories/api-keys.repository';
import { ensureSearchAttributes, waitForTemporal } from '../lib/temporal-dev-server';
import { ensureNamespace } from '../lib/temporal-namespace';

const say = (line: string): void => void process.stderr.write(`topology: ${line}\n`);

function env(name: string, fallback?: string): string {
  const v = process.env[name] ?? fallback;
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

async function attributes(address: string, namespace: string): Promise<void> {
  // A new namespace reaches every service's namespace cache within ~10 s.
  await waitForTemporal(address, [namespace], 90_000);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const added = await ensureSearchAttributes(address, namespace);
      say(added.length ? `registered search attributes ${added.join(', ')}` : 'search attributes are registered');
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

async function adminQuery(url: string, sql: string): Promise<void> {
  // NF_TOPO_ADMIN_URL: a database on the same server to connect to (up.sh passes the base DATABASE_URL).
  const admin = new URL(process.env.NF_TOPO_ADMIN_URL ?? url);
  if (!process.env.NF_TOPO_ADMIN_URL) admin.pathname = '/postgres';
  const c = new pg.Client({ connectionString: admin.toString() });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

function dbName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name ${JSON.stringify(name)}: use [a-z0-9_]`);
  return name;
}

async function database(url: string): Promise<void> {
  const name = dbName(url);
  await adminQuery(url, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await adminQuery(url, `CREATE DATABASE "${name}"`);
  const db = createDb(url, 2);
  try {
    const applied = await migrateToLatest(db);
    say(`created database ${name}, applied ${applied.length} migrations`);
    const account = await createAccount(db, { name: 'topology', plan: 'enterprise' });
    const { secret } = await createApiKey(db, { accountId: account.id, kind: 'test', name: 'topology' });
    process.stdout.write(`NF_API_KEY=${secret}\nNF_ACCOUNT_ID=${account.id}\n`);
  } finally {
    await db.destroy();
  }
}

async function main(): Promise<void> {
  const step = process.argv[2];
  const address = () => env('TEMPORAL_ADDRESS');
  const namespace = env('TEMPORAL_NAMESPACE', 'default');
  if (step === 'namespace')
    say(
      (await ensureNamespace(address(), namespace))
        ? `registered namespace ${namespace}`
        : `namespace ${namespace} exists`,
    );
  else if (step === 'attributes') await attributes(address(), namespace);
  else if (step === 'database') await database(env('DATABASE_URL'));
  else if (step === 'drop')
    await adminQuery(env('DATABASE_URL'), `DROP DATABASE IF EXISTS "${dbName(env('DATABASE_URL'))}" WITH (FORCE)`);
  else throw new Error('usage: setup.ts namespace|attributes|database|drop');
}

main().catch((e: unknown) => {
  say(`failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
