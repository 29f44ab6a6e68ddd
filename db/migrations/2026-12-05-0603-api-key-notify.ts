import { sql, type Kysely } from 'kysely';

// Frozen once landed. Issue 14: API processes keep the lookups of valid API keys in memory
// (api/key-cache.ts) and drop them when PostgreSQL tells them that what a lookup reads may have
// changed: a key revoked, deleted or changed, an account's plan changed or the account deleted. The
// NOTIFY is sent by the changing transaction itself, at its commit, whoever runs it (the API, the
// admin CLI, an operator's SQL), so no path can change a key without telling every API process.
// Writes of last_used_at alone (touchApiKey) do not notify.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE FUNCTION nf_notify_api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('nf_api_keys_changed', TG_TABLE_NAME);
      RETURN NULL;
    END $$`.execute(db);
  await sql`CREATE TRIGGER api_keys_changed_notify
    AFTER UPDATE OF id, account_id, kind, key_hash, revoked_at OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION nf_notify_api_keys_changed()`.execute(db);
  await sql`CREATE TRIGGER api_keys_truncated_notify
    AFTER TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION nf_notify_api_keys_changed()`.execute(db);
  await sql`CREATE TRIGGER accounts_changed_notify
    AFTER UPDATE OF id, plan OR DELETE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION nf_notify_api_keys_changed()`.execute(db);
  await sql`CREATE TRIGGER accounts_truncated_notify
    AFTER TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION nf_notify_api_keys_changed()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER accounts_truncated_notify ON accounts`.execute(db);
  await sql`DROP TRIGGER accounts_changed_notify ON accounts`.execute(db);
  await sql`DROP TRIGGER api_keys_truncated_notify ON api_keys`.execute(db);
  await sql`DROP TRIGGER api_keys_changed_notify ON api_keys`.execute(db);
  await sql`DROP FUNCTION nf_notify_api_keys_changed()`.execute(db);
}
