/**
 * The admin CLI: `npx nodefoundry …` (bin/nodefoundry.cjs loads this file through tsx).
 *
 * `keys`, `accounts` and `migrate` talk to PostgreSQL directly (DATABASE_URL, or the embedded
 * database of a running `npm start`), never through the HTTP API: they create the first account and
 * key, before any key exists. `nodes`, `clusters` and `operations` (scripts/lib/cli-api.ts) are
 * clients of the HTTP API, over the typed client generated from its OpenAPI document (lib/client).
 * stdout carries only the result (a key, an id, a table) so scripts can capture it; messages go to
 * stderr. Exit codes: 0 success, 1 failure, 2 usage error.
 */
import { createDb, type Db } from '../db/database';
import { migrateToLatest } from '../db/migrate';
import {
  createAccount,
  getAccountByName,
  listAccounts,
  PLANS,
  type Plan,
} from '../db/repositories/accounts.repository';
import {
  activeKeyCounts,
  createApiKey,
  getApiKeyById,
  listApiKeys,
  revokeApiKey,
} from '../db/repositories/api-keys.repository';
import { ensureAccount } from './lib/bootstrap';
import { isId } from '../lib/ids';
import { KEY_KINDS, type KeyKind } from '../lib/secrets';
import { resolveDatabaseUrl, resolveDataDir } from './lib/paths';
import { API_COMMANDS, API_USAGE } from './lib/cli-api';
import { CliError, parse, requireString, stdio, table, UsageError, type Io, type Values } from './lib/cli-common';

const USAGE = `Usage: nodefoundry <command> [options]

Keys (the secret is printed once, alone on stdout; only its hash is stored):
  keys create --account NAME --kind live|test|ro [--name LABEL] [--plan PLAN]
                                 create a key (and the account, with PLAN, if it does not exist)
  keys list --account NAME [--json]
                                 list an account's keys (never the secret)
  keys revoke KEY_ID             revoke a key (idempotent)

Accounts:
  accounts create NAME [--plan starter|professional|enterprise]   print the new account's id
  accounts list [--json]

Database:
  migrate                        apply pending migrations
${API_USAGE}
Key kinds: live (nf_sk_live_, full access), test (nf_sk_test_, sandbox), ro (nf_sk_ro_, live, GET only).
Database: DATABASE_URL, else the embedded database of a running \`npm start\`
(NF_DATA_DIR/database-url, default .data/database-url in the package).
Exit codes: 0 ok, 1 error (an API error prints its code and message), 2 usage;
\`operations watch\`: 0 when the operation completed, 1 when it failed or was cancelled.
`;

function accountName(name: string): string {
  // Names are shown in tables and logs: printable, bounded.
  if (!/^[^\p{Cc}]{1,100}$/u.test(name) || name.trim() !== name) {
    throw new UsageError(
      `invalid account name ${JSON.stringify(name)} (1-100 printable characters, no surrounding spaces)`,
    );
  }
  return name;
}

function plan(value: Values[string]): Plan | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(PLANS as readonly string[]).includes(value)) {
    throw new UsageError(`--plan must be one of ${PLANS.join(', ')}`);
  }
  return value as Plan;
}

function kind(value: string): KeyKind {
  if (!(KEY_KINDS as readonly string[]).includes(value))
    throw new UsageError(`--kind must be one of ${KEY_KINDS.join(', ')}`);
  return value as KeyKind;
}

const iso = (d: Date | null): string => (d ? d.toISOString() : '-');

async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  const found = resolveDatabaseUrl();
  if (!found) {
    throw new CliError(
      `no database: set DATABASE_URL, or start NodeFoundry with \`npm start\` (its embedded database is found through ${resolveDataDir()}/database-url)`,
    );
  }
  const db = createDb(found.url, 2);
  try {
    return await fn(db);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ECONNREFUSED') {
      throw new CliError(
        found.source === 'DATABASE_URL'
          ? 'cannot connect to DATABASE_URL (connection refused)'
          : `cannot connect to the embedded database named in ${found.source}: is \`npm start\` still running?`,
      );
    }
    if (code === '42P01')
      throw new CliError('the database has no NodeFoundry tables yet: run `npx nodefoundry migrate` first');
    throw e;
  } finally {
    await db.destroy();
  }
}

async function accountByName(db: Db, name: string): Promise<{ id: string }> {
  const account = await getAccountByName(db, name);
  if (!account) throw new CliError(`no account named ${JSON.stringify(name)} (see \`nodefoundry accounts list\`)`);
  return account;
}

async function keysCreate(args: string[], io: Io): Promise<void> {
  const { values } = parse(
    args,
    { account: { type: 'string' }, kind: { type: 'string' }, name: { type: 'string' }, plan: { type: 'string' } },
    0,
  );
  const name = accountName(requireString(values, 'account'));
  const keyKind = kind(requireString(values, 'kind'));
  const label = typeof values.name === 'string' ? values.name : null;
  if (label !== null && (label.length > 100 || /\p{Cc}/u.test(label)))
    throw new UsageError('--name must be at most 100 printable characters');
  const accountPlan = plan(values.plan);
  await withDb(async (db) => {
    const account = await ensureAccount(db, name, accountPlan ?? 'starter');
    if (account.created) io.err(`created account ${name} (${account.id}, plan ${account.plan})`);
    else if (accountPlan && accountPlan !== account.plan)
      io.err(`note: account ${name} exists with plan ${account.plan}; --plan ignored`);
    const { apiKey, secret } = await createApiKey(db, { accountId: account.id, kind: keyKind, name: label });
    io.err(`created ${keyKind} key ${apiKey.id} for account ${name}; it is shown once, store it now`);
    io.out(secret);
  });
}

async function keysList(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, { account: { type: 'string' }, json: { type: 'boolean' } }, 0);
  const name = accountName(requireString(values, 'account'));
  await withDb(async (db) => {
    const account = await accountByName(db, name);
    const { rows } = await listApiKeys(db, account.id, {}, { limit: 10_000, offset: 0 });
    if (values.json) {
      io.out(
        JSON.stringify(
          rows.map(({ key_hash: _hash, ...k }) => k),
          null,
          2,
        ),
      );
      return;
    }
    table(
      io,
      ['ID', 'KIND', 'HINT', 'NAME', 'CREATED_AT', 'LAST_USED_AT', 'REVOKED_AT'],
      rows.map((k) => [k.id, k.kind, k.hint, k.name ?? '-', iso(k.created_at), iso(k.last_used_at), iso(k.revoked_at)]),
    );
  });
}

async function keysRevoke(args: string[], io: Io): Promise<void> {
  const { positionals } = parse(args, {}, 1);
  const id = positionals[0]!;
  if (!isId('key', id))
    throw new UsageError(`${JSON.stringify(id)} is not a key id (key_…; see \`nodefoundry keys list\`)`);
  await withDb(async (db) => {
    const key = await getApiKeyById(db, id);
    if (!key) throw new CliError(`no key ${id}`);
    if (key.revoked_at) {
      io.err(`key ${id} (${key.hint}) was already revoked at ${iso(key.revoked_at)}`);
      return;
    }
    await revokeApiKey(db, key.account_id, id);
    io.out(`revoked ${id} (${key.hint})`);
  });
}

async function accountsCreate(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(args, { plan: { type: 'string' } }, 1);
  const name = accountName(positionals[0]!);
  const accountPlan = plan(values.plan) ?? 'starter';
  await withDb(async (db) => {
    const existing = await getAccountByName(db, name);
    if (existing) throw new CliError(`account ${name} already exists (${existing.id}, plan ${existing.plan})`);
    const account = await createAccount(db, { name, plan: accountPlan }).catch((e: { code?: string }) => {
      if (e.code === '23505') throw new CliError(`account ${name} already exists`);
      throw e;
    });
    io.err(`created account ${name} (plan ${account.plan})`);
    io.out(account.id);
  });
}

async function accountsList(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, { json: { type: 'boolean' } }, 0);
  await withDb(async (db) => {
    const accounts = await listAccounts(db);
    const active = await activeKeyCounts(db);
    if (values.json) {
      io.out(
        JSON.stringify(
          accounts.map((a) => ({ ...a, active_keys: active.get(a.id) ?? 0 })),
          null,
          2,
        ),
      );
      return;
    }
    table(
      io,
      ['ID', 'NAME', 'PLAN', 'ACTIVE_KEYS', 'CREATED_AT'],
      accounts.map((a) => [a.id, a.name, a.plan, String(active.get(a.id) ?? 0), iso(a.created_at)]),
    );
  });
}

async function migrate(args: string[], io: Io): Promise<void> {
  parse(args, {}, 0);
  await withDb(async (db) => {
    const applied = await migrateToLatest(db);
    if (applied.length === 0) io.err('database is up to date');
    for (const name of applied) io.out(`applied ${name}`);
  });
}

const COMMANDS: Record<string, (args: string[], io: Io) => Promise<number | void>> = {
  'keys create': keysCreate,
  'keys list': keysList,
  'keys revoke': keysRevoke,
  'accounts create': accountsCreate,
  'accounts list': accountsList,
  migrate,
  ...API_COMMANDS,
};

let pipeHandled = false;

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  if (io === stdio && !pipeHandled) {
    pipeHandled = true;
    // `nodefoundry keys list … | head`: the reader went away; that is not an error of ours.
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    (argv.length === 0 ? io.err : io.out)(USAGE.trimEnd());
    return argv.length === 0 ? 2 : 0;
  }
  const two = argv.slice(0, 2).join(' ');
  const [command, rest] = COMMANDS[two] ? [two, argv.slice(2)] : [argv[0]!, argv.slice(1)];
  const run = COMMANDS[command];
  try {
    if (!run) {
      const subs = Object.keys(COMMANDS)
        .filter((c) => c.startsWith(`${argv[0]!} `))
        .map((c) => c.split(' ')[1]);
      throw new UsageError(
        subs.length ? `${argv[0]!} needs one of: ${subs.join(', ')}` : `unknown command: ${argv[0]!}`,
      );
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out(USAGE.trimEnd());
      return 0;
    }
    return (await run(rest, io)) ?? 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`nodefoundry: ${e.message}`);
      io.err('Run `npx nodefoundry --help` for usage.');
      return 2;
    }
    if (e instanceof CliError) {
      io.err(`nodefoundry: ${e.message}`);
      return 1;
    }
    io.err(`nodefoundry: ${(e as Error).stack ?? String(e)}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`nodefoundry: ${String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
