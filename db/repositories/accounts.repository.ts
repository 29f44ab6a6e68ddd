import { newId } from '../../lib/ids';
import { apiKeysChanged } from './api-keys.repository';
import type { Account, Executor } from '../database';

export type Plan = Account['plan'];
export const PLANS: readonly Plan[] = ['starter', 'professional', 'enterprise'];

export async function createAccount(db: Executor, input: { name: string; plan?: Plan }): Promise<Account> {
  return db
    .insertInto('accounts')
    .values({ id: newId('account'), name: input.name, plan: input.plan ?? 'starter' })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function getAccountById(db: Executor, id: string): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function getAccountByName(db: Executor, name: string): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('name', '=', name).executeTakeFirst();
}

export async function listAccounts(db: Executor): Promise<Account[]> {
  return db.selectFrom('accounts').selectAll().orderBy('created_at', 'asc').execute();
}

export async function setAccountPlan(db: Executor, id: string, plan: Plan): Promise<void> {
  await db.updateTable('accounts').set({ plan }).where('id', '=', id).execute();
  apiKeysChanged(db);
}
