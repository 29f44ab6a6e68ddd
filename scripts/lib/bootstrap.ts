import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Db } from '../../db/database';
import { createAccount, getAccountByName, type Plan } from '../../db/repositories/accounts.repository';
import { createApiKey, findActiveKeyId } from '../../db/repositories/api-keys.repository';
import { hashApiKey, kindOfKey } from '../../lib/secrets';

/**
 * First-run setup shared by `npm start` (the demo account) and the admin CLI (accounts and keys
 * created by an operator). Everything goes through the repositories, like the API.
 */

export const DEMO_ACCOUNT_NAME = 'demo';
const DEMO_KEY_FILE = 'demo-key';
const PG_UNIQUE_VIOLATION = '23505';

/**
 * The account called `name`, created with `plan` when missing. Safe against a concurrent creator
 * (the unique name decides; the loser reads the winner's row). An existing account keeps its plan.
 */
export async function ensureAccount(
  db: Db,
  name: string,
  plan: Plan = 'starter',
): Promise<{ id: string; plan: Plan; created: boolean }> {
  const existing = await getAccountByName(db, name);
  if (existing) return { id: existing.id, plan: existing.plan, created: false };
  try {
    const account = await createAccount(db, { name, plan });
    return { id: account.id, plan: account.plan, created: true };
  } catch (e) {
    if ((e as { code?: string }).code !== PG_UNIQUE_VIOLATION) throw e;
    const winner = await getAccountByName(db, name);
    if (!winner) throw e;
    return { id: winner.id, plan: winner.plan, created: false };
  }
}

/**
 * The demo account of `npm start` and a usable sandbox key (`nf_sk_test_…`) for it.
 *
 * The key's secret exists only as a hash in the database, so to print the same key on every start
 * it is kept in `<dataDir>/demo-key` (mode 0600, next to the other local secrets). It is reused while
 * its hash is still in the database and not revoked; otherwise (revoked with the CLI or the API,
 * a new database) a fresh key replaces the file.
 */
export async function ensureDemoAccount(db: Db, dataDir: string): Promise<{ accountId: string; key: string }> {
  const account = await ensureAccount(db, DEMO_ACCOUNT_NAME, 'professional');
  const file = path.join(dataDir, DEMO_KEY_FILE);

  const saved = await readFile(file, 'utf8').then(
    (s) => s.trim(),
    () => undefined,
  );
  if (saved !== undefined && kindOfKey(saved) === 'test') {
    if (await findActiveKeyId(db, account.id, hashApiKey(saved))) return { accountId: account.id, key: saved };
  }

  const { secret } = await createApiKey(db, {
    accountId: account.id,
    kind: 'test',
    name: 'demo sandbox key (npm start)',
  });
  // Write then rename: a crash never leaves a truncated key file behind.
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, secret + '\n', { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  return { accountId: account.id, key: secret };
}
