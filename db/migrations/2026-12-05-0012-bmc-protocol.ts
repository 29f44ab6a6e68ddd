import { sql, type Kysely } from 'kysely';

// Frozen once landed. Issue 13 #5: a node's BMC is driven over IPMI (every node registered until
// now: the default) or Redfish. The ipmi_* columns keep holding the BMC's address, port, user and
// password whatever the protocol; a Redfish BMC's TLS certificate is pinned at registration, like
// an SSH host key, by its SHA-256 fingerprint ("AB:CD:…"); null until first contact (always null
// for IPMI, which has no certificate).

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('nodes')
    .addColumn('bmc_protocol', 'text', (c) => c.notNull().defaultTo('ipmi'))
    .addColumn('bmc_tls_fingerprint', 'text')
    .execute();
  await sql`ALTER TABLE nodes ADD CONSTRAINT nodes_bmc_protocol_check CHECK (bmc_protocol IN ('ipmi', 'redfish'))`.execute(
    db,
  );
  await sql`ALTER TABLE nodes ADD CONSTRAINT nodes_bmc_tls_fingerprint_check
    CHECK (bmc_tls_fingerprint IS NULL OR (bmc_protocol = 'redfish' AND bmc_tls_fingerprint ~ '^([0-9A-F]{2}:){31}[0-9A-F]{2}$'))`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('nodes').dropColumn('bmc_tls_fingerprint').dropColumn('bmc_protocol').execute();
}
