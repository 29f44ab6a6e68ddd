import { type Kysely, sql } from 'kysely';

// Frozen once landed. Issue 10: how a cluster is deployed, chosen at create (or import) and used by
// every later operation: `packages` (Debian/ceph.com packages over SSH, systemd units ceph-mon@<host>,
// ceph-osd@N) or `cephadm` (containers, `ceph orch`). Existing rows are `packages`: the only real
// clusters NodeFoundry has run so far are package-based (the lab's Pacific).

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('clusters')
    .addColumn('deployment', 'text', (c) =>
      c
        .notNull()
        .defaultTo('packages')
        .check(sql`deployment in ('packages', 'cephadm')`),
    )
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clusters').dropColumn('deployment').execute();
}
