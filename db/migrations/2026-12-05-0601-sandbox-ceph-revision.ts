import { sql, type Kysely } from 'kysely';

// Frozen once landed. Issue 14 (rolling upgrade at scale): every stored version of a simulated Ceph
// cluster's document gets a revision, so that a process can keep the parsed document and, on the
// next simulated `ceph` call, ask only "is it still revision N?" instead of reading and parsing the
// whole jsonb again. The revision comes from one sequence, set by a trigger on every insert and
// update whoever writes the row (driver, test helpers, another process), so a revision is never
// seen twice — not even after a cluster is removed and created again under the same id.
// The document (~1 MB at 4,320 OSDs, rewritten on every simulated state change) is compressed
// with lz4 instead of the default pglz where the server has it: pglz spent more CPU per write and
// read than anything else in PostgreSQL's share of the at-scale upgrade. Storage only; the stored
// value reads back the same. A server built without lz4 keeps pglz.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE SEQUENCE sandbox_ceph_revision_seq`.execute(db);
  await sql`ALTER TABLE sandbox_ceph ADD COLUMN revision bigint NOT NULL DEFAULT nextval('sandbox_ceph_revision_seq')`.execute(
    db,
  );
  await sql`CREATE FUNCTION sandbox_ceph_next_revision() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.revision := nextval('sandbox_ceph_revision_seq');
      RETURN NEW;
    END $$`.execute(db);
  await sql`CREATE TRIGGER sandbox_ceph_revision BEFORE INSERT OR UPDATE ON sandbox_ceph
    FOR EACH ROW EXECUTE FUNCTION sandbox_ceph_next_revision()`.execute(db);
  await sql`DO $$ BEGIN
      ALTER TABLE sandbox_ceph ALTER COLUMN state SET COMPRESSION lz4;
    EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
      RAISE NOTICE 'lz4 not supported by this server: sandbox_ceph.state keeps the default compression';
    END $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE sandbox_ceph ALTER COLUMN state SET COMPRESSION default`.execute(db);
  await sql`DROP TRIGGER sandbox_ceph_revision ON sandbox_ceph`.execute(db);
  await sql`DROP FUNCTION sandbox_ceph_next_revision()`.execute(db);
  await db.schema.alterTable('sandbox_ceph').dropColumn('revision').execute();
  await sql`DROP SEQUENCE sandbox_ceph_revision_seq`.execute(db);
}
