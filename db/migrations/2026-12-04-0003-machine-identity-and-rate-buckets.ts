import { type Kysely, sql } from 'kysely';

// Frozen once landed. Issue 8 #8 and #14.
//
// 1. One record per machine: a host address and a BMC address belong to one node in their address
//    scope whatever the port (a second port is the same machine), and so does a pinned SSH host key.
//    IPv4-mapped IPv6 addresses (::ffff:10.0.0.5) are folded to IPv4 first. Should two records
//    already share an address, the migration stops and names them: which one is right is an
//    operator's decision (docs/operators.md, "Two records for one machine").
// 2. Rate-limit windows are counted per account and bucket (the key kind: live, test, ro), so a
//    busy sandbox CI or dashboard cannot starve the account's live requests.

const MAPPED_V4 = `'^::ffff:[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$'`;

function foldMapped(table: string, column: string) {
  return sql.raw(
    `update ${table} set ${column} = substring(host(${column}::inet) from 8) ` +
      `where family(${column}::inet) = 6 and host(${column}::inet) ~ ${MAPPED_V4}`,
  );
}

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('nodes').dropConstraint('nodes_ip_unique').execute();
  await db.schema.alterTable('nodes').dropConstraint('nodes_ipmi_unique').execute();
  for (const [table, column] of [
    ['nodes', 'ip_address'],
    ['nodes', 'ipmi_address'],
    ['sandbox_machines', 'ip_address'],
    ['sandbox_machines', 'ipmi_address'],
  ] as const) {
    await foldMapped(table, column).execute(db);
  }
  for (const [column, what] of [
    ['ip_address', 'host address'],
    ['ipmi_address', 'BMC address'],
    ['ssh_host_key_fingerprint', 'SSH host key'],
  ] as const) {
    const dup = await sql<{ ids: string }>`
      select string_agg(id, ', ' order by id) as ids from nodes
      where ${sql.ref(column)} is not null and ${sql.ref(column)} not like '127.%' and ${sql.ref(column)} <> '::1'
      group by address_scope, ${sql.ref(column)} having count(*) > 1 limit 1`.execute(db);
    if (dup.rows[0]) {
      throw new Error(
        `nodes ${dup.rows[0].ids} share one ${what}: two records must never drive one machine. ` +
          'Delete the wrong record(s) (DELETE /v1/nodes/{id}), then start again (docs/operators.md).',
      );
    }
  }
  // Loopback is the one exception: one host, several machines on different ports. It is only
  // registrable for a live node with NF_ALLOW_LOCAL_ADDRESSES (a lab or development setup); there
  // a machine is its (address, port) as before.
  for (const [column, port, name] of [
    ['ip_address', 'ssh_port', 'nodes_host_address'],
    ['ipmi_address', 'ipmi_port', 'nodes_bmc_address'],
  ] as const) {
    const loopback = sql<boolean>`(${sql.ref(column)} like '127.%' or ${sql.ref(column)} = '::1')`;
    await db.schema
      .createIndex(`${name}_unique`)
      .unique()
      .on('nodes')
      .columns(['address_scope', column])
      .where(sql<boolean>`not ${loopback}`)
      .execute();
    await db.schema
      .createIndex(`${name}_loopback_unique`)
      .unique()
      .on('nodes')
      .columns(['address_scope', column, port])
      .where(loopback)
      .execute();
  }
  await db.schema
    .createIndex('nodes_host_key_unique')
    .unique()
    .on('nodes')
    .columns(['address_scope', 'ssh_host_key_fingerprint'])
    .where(sql.ref('ssh_host_key_fingerprint'), 'is not', null)
    .execute();

  await db.schema
    .alterTable('rate_limit_windows')
    .addColumn('bucket', 'text', (c) => c.notNull().defaultTo('account'))
    .execute();
  await db.schema.alterTable('rate_limit_windows').dropConstraint('rate_limit_windows_pk').execute();
  await db.schema
    .alterTable('rate_limit_windows')
    .addPrimaryKeyConstraint('rate_limit_windows_pk', ['account_id', 'bucket', 'window_start'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.deleteFrom('rate_limit_windows').execute();
  await db.schema.alterTable('rate_limit_windows').dropConstraint('rate_limit_windows_pk').execute();
  await db.schema.alterTable('rate_limit_windows').dropColumn('bucket').execute();
  await db.schema
    .alterTable('rate_limit_windows')
    .addPrimaryKeyConstraint('rate_limit_windows_pk', ['account_id', 'window_start'])
    .execute();
  for (const index of [
    'nodes_host_key_unique',
    'nodes_host_address_unique',
    'nodes_host_address_loopback_unique',
    'nodes_bmc_address_unique',
    'nodes_bmc_address_loopback_unique',
  ]) {
    await db.schema.dropIndex(index).execute();
  }
  await db.schema
    .alterTable('nodes')
    .addUniqueConstraint('nodes_ip_unique', ['address_scope', 'ip_address', 'ssh_port'])
    .execute();
  await db.schema
    .alterTable('nodes')
    .addUniqueConstraint('nodes_ipmi_unique', ['address_scope', 'ipmi_address', 'ipmi_port'])
    .execute();
}
