import { type Kysely, sql } from 'kysely';

// Frozen once landed. Issue 11: the events outbox (SPEC §2). Every status change of an operation, a
// cluster or a node is an event row written by a trigger in the same transaction as the change, so
// no code path (the workflows' activities, the API's settlement, the monitor, a hand-written UPDATE)
// can change a status without its event, and a change that rolls back takes its event with it.
// Events the application raises itself (health checks, repairs) go through recordEvent
// (db/repositories/events.repository.ts), also inside the caller's transaction. `seq` is one global,
// strictly increasing number: it orders events (per resource too) for receivers and pages.

export async function up(db: Kysely<any>): Promise<void> {
  // evt_ + 26 characters of the ids' alphabet (lib/ids.ts); order comes from seq, not from the id.
  await sql`
    create function nf_event_id() returns text language sql volatile as $$
      select 'evt_' || string_agg(substr('0123456789abcdefghjkmnpqrstvwxyz', 1 + floor(random() * 32)::int, 1), '')
      from generate_series(1, 26)
    $$`.execute(db);
  await db.schema
    .createTable('events')
    .addColumn('seq', 'bigint', (c) => c.generatedAlwaysAsIdentity().primaryKey())
    .addColumn('id', 'text', (c) =>
      c
        .notNull()
        .unique()
        .defaultTo(sql`nf_event_id()`),
    )
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('cluster_id', 'text')
    .addColumn('node_id', 'text')
    .addColumn('operation_id', 'text')
    .addColumn('data', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create index events_scope_seq on events (account_id, environment, seq desc)`.execute(db);
  await sql`create index events_cluster_seq on events (cluster_id, seq desc) where cluster_id is not null`.execute(db);
  await sql`create index events_node_seq on events (node_id, seq desc) where node_id is not null`.execute(db);
  await sql`create index events_operation_seq on events (operation_id, seq desc) where operation_id is not null`.execute(
    db,
  );

  // Webhooks (SPEC §2): the secret is stored encrypted (NF_SECRET_KEY, like node credentials) since
  // every delivery is signed with it. A delivery is one event to one webhook; its attempts are logged.
  await db.schema
    .createTable('webhooks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
    .addColumn('environment', 'text', (c) => c.notNull().check(sql`environment in ('live', 'sandbox')`))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('events', sql`text[]`, (c) => c.notNull())
    .addColumn('secret_enc', 'text', (c) => c.notNull())
    .addColumn('disabled_at', 'timestamptz')
    .addColumn('disabled_reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create index webhooks_scope on webhooks (account_id, environment, created_at desc)`.execute(db);
  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('webhook_id', 'text', (c) => c.notNull().references('webhooks.id').onDelete('cascade'))
    .addColumn('event_id', 'text', (c) => c.notNull().references('events.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('pending')
        .check(sql`status in ('pending', 'delivered', 'failed')`),
    )
    .addColumn('attempts', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('completed_at', 'timestamptz')
    .addColumn('dispatched_at', 'timestamptz')
    .addUniqueConstraint('webhook_deliveries_once', ['webhook_id', 'event_id'])
    .execute();
  await sql`create index webhook_deliveries_by_webhook on webhook_deliveries (webhook_id, created_at desc)`.execute(db);
  await sql`create index webhook_deliveries_undispatched on webhook_deliveries (created_at) where dispatched_at is null`.execute(
    db,
  );

  // Each event is due to every enabled webhook of its account and environment subscribed to its
  // type: the delivery rows are written with the event, in the same transaction.
  await sql`
    create function nf_event_deliveries() returns trigger language plpgsql as $$
    begin
      insert into webhook_deliveries (id, webhook_id, event_id)
      select 'whd_' || substr(nf_event_id(), 5), w.id, new.id
      from webhooks w
      where w.account_id = new.account_id and w.environment = new.environment
        and w.disabled_at is null and new.type = any(w.events);
      return new;
    end $$`.execute(db);
  await sql`
    create trigger events_deliveries after insert on events
    for each row execute function nf_event_deliveries()`.execute(db);

  await sql`
    create function nf_operation_event() returns trigger language plpgsql as $$
    declare
      kind text;
    begin
      if new.status is not distinct from old.status then return new; end if;
      kind := case
        when new.status = 'in_progress' and old.status = 'pending' then 'operation.started'
        when new.status = 'completed' then 'operation.completed'
        when new.status = 'failed' then 'operation.failed'
        when new.status = 'cancelled' then 'operation.cancelled'
      end;
      if kind is null then return new; end if;
      insert into events (account_id, environment, type, cluster_id, node_id, operation_id, data)
      values (new.account_id, new.environment, kind, new.cluster_id, new.node_id, new.id,
        jsonb_build_object('operation_type', new.type, 'from', old.status, 'to', new.status,
          'error_code', new.error->>'code'));
      return new;
    end $$`.execute(db);
  await sql`
    create trigger operations_status_event after update of status on operations
    for each row execute function nf_operation_event()`.execute(db);

  await sql`
    create function nf_cluster_event() returns trigger language plpgsql as $$
    begin
      if new.status is not distinct from old.status then return new; end if;
      insert into events (account_id, environment, type, cluster_id, operation_id, data)
      values (new.account_id, new.environment, 'cluster.status_changed', new.id,
        (select operation_id from operation_locks where resource_id = new.id),
        jsonb_build_object('from', old.status, 'to', new.status, 'reason', new.status_reason));
      return new;
    end $$`.execute(db);
  await sql`
    create trigger clusters_status_event after update of status on clusters
    for each row execute function nf_cluster_event()`.execute(db);

  await sql`
    create function nf_node_event() returns trigger language plpgsql as $$
    begin
      if new.status is not distinct from old.status then return new; end if;
      insert into events (account_id, environment, type, cluster_id, node_id, operation_id, data)
      values (new.account_id, new.environment, 'node.status_changed', coalesce(new.cluster_id, old.cluster_id), new.id,
        (select operation_id from operation_locks where resource_id = new.id),
        jsonb_build_object('from', old.status, 'to', new.status, 'reason', new.status_reason));
      return new;
    end $$`.execute(db);
  await sql`
    create trigger nodes_status_event after update of status on nodes
    for each row execute function nf_node_event()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists nodes_status_event on nodes`.execute(db);
  await sql`drop trigger if exists clusters_status_event on clusters`.execute(db);
  await sql`drop trigger if exists operations_status_event on operations`.execute(db);
  await sql`drop function if exists nf_node_event()`.execute(db);
  await sql`drop function if exists nf_cluster_event()`.execute(db);
  await sql`drop function if exists nf_operation_event()`.execute(db);
  await sql`drop trigger if exists events_deliveries on events`.execute(db);
  await sql`drop function if exists nf_event_deliveries()`.execute(db);
  await db.schema.dropTable('webhook_deliveries').execute();
  await db.schema.dropTable('webhooks').execute();
  await db.schema.dropTable('events').execute();
  await sql`drop function if exists nf_event_id()`.execute(db);
}
