import { type Kysely, sql } from 'kysely';

// Frozen: once landed, a migration never changes. Later schema changes are new files.
// Migrations never import application code, so they keep working as the code moves on.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('accounts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('plan', 'text', (c) =>
      c
        .notNull()
        .defaultTo('starter')
        .check(sql`plan in ('starter', 'professional', 'enterprise')`),
    )
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('live', 'test', 'ro')`))
    .addColumn('name', 'text')
    .addColumn('hint', 'text', (c) => c.notNull())
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('api_keys_account_idx').on('api_keys').columns(['account_id', 'created_at']).execute();

  await db.schema
    .createTable('clusters')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('environment', 'text', (c) => c.notNull().check(sql`environment in ('live', 'sandbox')`))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('status_reason', 'text')
    .addColumn('ceph_version', 'text', (c) => c.notNull())
    .addColumn('failure_domain', 'text', (c) => c.notNull().defaultTo('host'))
    .addColumn('replication_factor', 'integer', (c) => c.notNull().defaultTo(3))
    .addColumn('admin_node_id', 'text')
    .addColumn('fsid', 'text')
    .addColumn('raw_capacity_tib', 'double precision', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('clusters_name_unique', ['account_id', 'environment', 'name'])
    .execute();

  await db.schema
    .createTable('nodes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('environment', 'text', (c) => c.notNull().check(sql`environment in ('live', 'sandbox')`))
    // Two records must never drive one machine. Live machines are one physical fleet, so live
    // addresses are unique across accounts; each sandbox account has a simulated datacenter of its own.
    .addColumn('address_scope', 'text', (c) => c.notNull())
    .addColumn('hostname', 'text', (c) => c.notNull())
    .addColumn('ip_address', 'text', (c) => c.notNull())
    .addColumn('ssh_port', 'integer', (c) => c.notNull().defaultTo(22))
    .addColumn('ssh_user', 'text', (c) => c.notNull())
    .addColumn('ssh_private_key_enc', 'text', (c) => c.notNull())
    .addColumn('ssh_host_key_fingerprint', 'text')
    .addColumn('ipmi_address', 'text', (c) => c.notNull())
    .addColumn('ipmi_port', 'integer', (c) => c.notNull().defaultTo(623))
    .addColumn('ipmi_username', 'text', (c) => c.notNull())
    .addColumn('ipmi_password_enc', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('status_reason', 'text')
    .addColumn('held', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('cluster_id', 'text', (c) => c.references('clusters.id').onDelete('set null'))
    .addColumn('rack', 'text')
    .addColumn('zone', 'text')
    .addColumn('cpu_cores', 'integer')
    .addColumn('ram_gb', 'integer')
    .addColumn('drives', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('nodes_ip_unique', ['address_scope', 'ip_address', 'ssh_port'])
    .addUniqueConstraint('nodes_ipmi_unique', ['address_scope', 'ipmi_address', 'ipmi_port'])
    .execute();
  await db.schema
    .createIndex('nodes_account_idx')
    .on('nodes')
    .columns(['account_id', 'environment', 'created_at'])
    .execute();
  await db.schema.createIndex('nodes_cluster_idx').on('nodes').column('cluster_id').execute();

  await db.schema
    .createTable('operations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('pending', 'in_progress', 'paused', 'completed', 'failed', 'cancelled')`),
    )
    .addColumn('cluster_id', 'text')
    .addColumn('node_id', 'text')
    .addColumn('osd_id', 'integer')
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('workflow_id', 'text', (c) => c.notNull().unique())
    .addColumn('run_id', 'text')
    .addColumn('params', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('progress', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('current_step', 'text')
    .addColumn('steps', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('logs', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('error', 'jsonb')
    .addColumn('result', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('started_at', 'timestamptz')
    .addColumn('completed_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('operations_account_idx')
    .on('operations')
    .columns(['account_id', 'environment', 'created_at'])
    .execute();
  await db.schema.createIndex('operations_node_idx').on('operations').column('node_id').execute();
  await db.schema.createIndex('operations_cluster_idx').on('operations').column('cluster_id').execute();

  // One mutating operation per resource (node or cluster): the primary key is the mutual exclusion,
  // so it holds across any number of API processes without an in-memory lock.
  await db.schema
    .createTable('operation_locks')
    .addColumn('resource_id', 'text', (c) => c.primaryKey())
    .addColumn('operation_id', 'text', (c) => c.notNull().references('operations.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('operation_locks_operation_idx').on('operation_locks').column('operation_id').execute();

  await db.schema
    .createTable('idempotency_keys')
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('in_progress', 'done')`))
    .addColumn('response_status', 'integer')
    .addColumn('response_body', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['account_id', 'key'])
    .execute();

  await db.schema
    .createTable('rate_limit_windows')
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('window_start', 'timestamptz', (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('rate_limit_windows_pk', ['account_id', 'window_start'])
    .execute();

  // The sandbox datacenter: simulated machines (BMC + host) and simulated Ceph, persisted so that
  // a worker restart does not lose a machine that is halfway through a reboot.
  await db.schema
    .createTable('sandbox_machines')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('ipmi_address', 'text', (c) => c.notNull())
    .addColumn('ip_address', 'text', (c) => c.notNull())
    .addColumn('hostname', 'text', (c) => c.notNull())
    .addColumn('bmc_username', 'text', (c) => c.notNull())
    .addColumn('bmc_password_hash', 'text', (c) => c.notNull())
    .addColumn('host_key_fingerprint', 'text', (c) => c.notNull())
    .addColumn('power_state', 'text', (c) => c.notNull().check(sql`power_state in ('on', 'off')`))
    .addColumn('power_changed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('boot_delay_ms', 'integer', (c) => c.notNull())
    .addColumn('shutdown_delay_ms', 'integer', (c) => c.notNull())
    .addColumn('pending_power', 'text')
    .addColumn('pending_power_at', 'timestamptz')
    .addColumn('cpu_cores', 'integer', (c) => c.notNull())
    .addColumn('ram_gb', 'integer', (c) => c.notNull())
    .addColumn('drives', 'jsonb', (c) => c.notNull())
    .addColumn('faults', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('sandbox_machines_bmc_unique', ['account_id', 'ipmi_address'])
    .execute();

  await db.schema
    .createTable('sandbox_power_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('machine_id', 'text', (c) => c.notNull().references('sandbox_machines.id').onDelete('cascade'))
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('sandbox_power_events_machine_idx')
    .on('sandbox_power_events')
    .columns(['machine_id', 'id'])
    .execute();

  await db.schema
    .createTable('sandbox_ceph')
    .addColumn('cluster_id', 'text', (c) => c.primaryKey())
    .addColumn('state', 'jsonb', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'sandbox_ceph',
    'sandbox_power_events',
    'sandbox_machines',
    'rate_limit_windows',
    'idempotency_keys',
    'operation_locks',
    'operations',
    'nodes',
    'clusters',
    'api_keys',
    'accounts',
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
