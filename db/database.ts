import {
  Kysely,
  PostgresDialect,
  sql,
  type PostgresPool,
  type PostgresPoolClient,
  type ColumnType,
  type Generated,
  type Insertable,
  type Selectable,
  type Transaction,
  type Updateable,
} from 'kysely';
import { createHash } from 'node:crypto';
import pg from 'pg';

// timestamptz comes back as Date; we write Date or SQL expressions.
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
/** jsonb: read as the parsed value, written as a JSON string (pg would turn a JS array into a PG array). */
type Json<T> = ColumnType<T, string, string>;
type JsonDefault<T> = ColumnType<T, string | undefined, string>;

export type EnvironmentName = 'live' | 'sandbox';

/**
 * Node statuses (the API's enum is this list). `pending`: registered, inventory not finished (also
 * where nodes return after their cluster is deleted); `ready`: inventoried, free; `provisioning`:
 * joining a cluster being created; `online`: serving in a cluster (called `active` before migration
 * 2026-12-05-0004-node-online); `offline`: a member the cluster monitor could not reach over SSH or
 * its BMC (status_reason says which); `error`: the last operation failed it (status_reason says
 * why); `maintenance`: in maintenance mode (issue 13: entered and exited by operations, the record of
 * what entering changed is in node_maintenance). Written only through
 * db/repositories/nodes.repository.ts.
 */
export const NODE_STATUSES = ['pending', 'ready', 'provisioning', 'online', 'offline', 'error', 'maintenance'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/**
 * Cluster statuses (the API's enum is this list). CREATING (IMPORTING) while the create (import)
 * operation runs; then Ceph's health (HEALTH_OK, HEALTH_WARN, HEALTH_ERR) as last observed; ERROR
 * when an operation failed it (status_reason says why); DELETING while it is being deleted. A
 * deleted cluster's row is gone. UNREACHABLE (issue 11): the cluster monitor could not reach the
 * admin node's Ceph in its last round (status_reason says why); the next answer puts health back. Written only through db/repositories/clusters.repository.ts.
 */
export const CLUSTER_STATUSES = [
  'CREATING',
  'IMPORTING',
  'HEALTH_OK',
  'HEALTH_WARN',
  'HEALTH_ERR',
  'ERROR',
  'DELETING',
  'UNREACHABLE',
] as const;
export type ClusterStatus = (typeof CLUSTER_STATUSES)[number];

/** Whether a value read back from JSON (an operation's params) is a cluster status. */
export function isClusterStatus(v: unknown): v is ClusterStatus {
  return typeof v === 'string' && (CLUSTER_STATUSES as readonly string[]).includes(v);
}

export interface AccountsTable {
  id: string;
  name: string;
  plan: ColumnType<'starter' | 'professional' | 'enterprise', 'starter' | 'professional' | 'enterprise' | undefined>;
  created_at: Timestamp;
}

export interface ApiKeysTable {
  id: string;
  account_id: string;
  kind: 'live' | 'test' | 'ro';
  name: string | null;
  /** First characters of the key, safe to show ("nf_sk_test_AbC1…"). */
  hint: string;
  key_hash: string;
  created_at: Timestamp;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
}

export type ClusterDeployment = 'packages' | 'cephadm';
export const CLUSTER_DEPLOYMENTS: readonly ClusterDeployment[] = ['packages', 'cephadm'];

export interface ClustersTable {
  id: string;
  account_id: string;
  environment: EnvironmentName;
  name: string;
  status: ClusterStatus;
  status_reason: string | null;
  ceph_version: string;
  failure_domain: ColumnType<string, string | undefined>;
  replication_factor: ColumnType<number, number | undefined>;
  admin_node_id: string | null;
  fsid: string | null;
  raw_capacity_tib: ColumnType<number, number | undefined>;
  /** The version a running upgrade moves the cluster to. */
  target_ceph_version: ColumnType<string | null, string | null | undefined>;
  osd_count: ColumnType<number, number | undefined>;
  /** How the cluster was deployed (issue 10): Debian packages over SSH, or cephadm containers. */
  deployment: ColumnType<ClusterDeployment, ClusterDeployment | undefined>;
  /** When status/OSDs were last refreshed from Ceph. */
  observed_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** Raw capacity used (every copy counted), TiB, two decimals; null until first read (issue 11). */
  used_capacity_tib: ColumnType<number | null, number | null | undefined>;
  /**
   * The point version most daemons run ("18.2.4"), from `ceph versions`; null until read (issue 12
   * #4). `ceph_version` is the release name.
   */
  ceph_point_version: ColumnType<string | null, string | null | undefined>;
}

export interface OsdsTable {
  cluster_id: string;
  osd_id: number;
  node_id: string | null;
  host: string;
  device: string;
  device_class: string | null;
  status: ColumnType<'up' | 'down', 'up' | 'down' | undefined>;
  in: ColumnType<boolean, boolean | undefined>;
  crush_weight: number;
  reweight: ColumnType<number, number | undefined>;
  capacity_gb: ColumnType<number, number | undefined>;
  used_gb: ColumnType<number, number | undefined>;
  pgs: ColumnType<number, number | undefined>;
  updated_at: Timestamp;
  /** The CRUSH weight NodeFoundry last left the OSD at (issue 11 drift check); null = not known. */
  expected_crush_weight: ColumnType<number | null, number | null | undefined>;
}

export interface PoolsTable {
  id: string;
  cluster_id: string;
  name: string;
  type: 'replicated' | 'erasure';
  size: number;
  min_size: number;
  erasure_profile: string | null;
  k: number | null;
  m: number | null;
  pg_num: ColumnType<number, number | undefined>;
  pg_autoscale: ColumnType<boolean, boolean | undefined>;
  application: string | null;
  status: 'creating' | 'active' | 'deleting' | 'error';
  status_reason: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface Drive {
  device: string;
  size_gb: number;
  type: 'nvme' | 'ssd' | 'hdd';
  smart_ok: boolean;
}

export const BMC_PROTOCOLS = ['ipmi', 'redfish'] as const;
export type BmcProtocol = (typeof BMC_PROTOCOLS)[number];

export interface NodesTable {
  id: string;
  account_id: string;
  environment: EnvironmentName;
  address_scope: string;
  hostname: string;
  ip_address: string;
  ssh_port: ColumnType<number, number | undefined>;
  ssh_user: string;
  ssh_private_key_enc: string;
  ssh_host_key_fingerprint: string | null;
  ipmi_address: string;
  ipmi_port: ColumnType<number, number | undefined>;
  ipmi_username: string;
  ipmi_password_enc: string;
  /** How the BMC (ipmi_* columns: address, port, user, password) is driven (migration 0012). */
  bmc_protocol: ColumnType<BmcProtocol, BmcProtocol | undefined>;
  /** Redfish: SHA-256 fingerprint of the BMC's TLS certificate, pinned at registration ("AB:CD:…"). */
  bmc_tls_fingerprint: ColumnType<string | null, string | null | undefined>;
  status: NodeStatus;
  status_reason: string | null;
  held: ColumnType<boolean, boolean | undefined>;
  cluster_id: string | null;
  rack: string | null;
  zone: string | null;
  cpu_cores: number | null;
  ram_gb: number | null;
  drives: JsonDefault<Drive[]>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type OperationStatus = 'pending' | 'in_progress' | 'paused' | 'completed' | 'failed' | 'cancelled';

export interface OperationStep {
  name: string;
  status: 'pending' | 'in_progress' | 'completed' | 'failed' | 'skipped' | 'cancelled';
  started_at: string | null;
  finished_at: string | null;
}

export interface OperationLog {
  timestamp: string;
  message: string;
}

export interface OperationError {
  code: string;
  message: string;
}

export interface OperationsTable {
  id: string;
  account_id: string;
  environment: EnvironmentName;
  type: string;
  status: OperationStatus;
  cluster_id: string | null;
  node_id: string | null;
  osd_id: number | null;
  request_id: string;
  workflow_id: string;
  run_id: string | null;
  params: JsonDefault<Record<string, unknown>>;
  progress: ColumnType<number, number | undefined>;
  current_step: string | null;
  steps: JsonDefault<OperationStep[]>;
  logs: JsonDefault<OperationLog[]>;
  error: Json<OperationError | null> | null;
  result: Json<Record<string, unknown> | null> | null;
  created_at: Timestamp;
  started_at: NullableTimestamp;
  completed_at: NullableTimestamp;
  updated_at: Timestamp;
  /** When a cancel was delivered to the workflow (migration 2026-12-04-0002). */
  cancel_requested_at: NullableTimestamp;
}

export interface OperationLocksTable {
  resource_id: string;
  operation_id: string;
  created_at: Timestamp;
}

export interface IdempotencyKeysTable {
  account_id: string;
  key: string;
  request_hash: string;
  state: 'in_progress' | 'done';
  response_status: number | null;
  response_body: Json<unknown> | null;
  created_at: Timestamp;
  /** The request holding an in_progress claim (migration 2026-12-04-0002). */
  claim_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** The operation the claiming request created, bound in the operation's own transaction. */
  operation_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** The API process (api_instances.id) holding an in_progress claim (migration 2026-12-04-0006). */
  claimed_by: ColumnType<string | null, string | null | undefined, string | null>;
}

/** One running API process and when it last said it was alive (migration 2026-12-04-0006). */
export interface ApiInstancesTable {
  id: string;
  started_at: Timestamp;
  last_seen: Timestamp;
}

export interface RateLimitWindowsTable {
  account_id: string;
  /** Which counter of the account (migration 0003): the key kind (live, test, ro). */
  bucket: ColumnType<string, string | undefined, string>;
  window_start: Date;
  count: number;
}

export interface SandboxMachinesTable {
  id: string;
  account_id: string;
  ipmi_address: string;
  ip_address: string;
  hostname: string;
  bmc_username: string;
  bmc_password_hash: string;
  host_key_fingerprint: string;
  power_state: 'on' | 'off';
  power_changed_at: Timestamp;
  boot_delay_ms: number;
  shutdown_delay_ms: number;
  /** A soft power-off in flight: the machine reaches `pending_power` at `pending_power_at`. */
  pending_power: 'on' | 'off' | null;
  pending_power_at: NullableTimestamp;
  cpu_cores: number;
  ram_gb: number;
  drives: Json<Drive[]>;
  faults: JsonDefault<Record<string, unknown>>;
  created_at: Timestamp;
}

export interface SandboxPowerEventsTable {
  id: Generated<string>;
  machine_id: string;
  action: string;
  at: Timestamp;
  /** The operation that sent the command (migration 0004); null outside one. */
  operation_id: ColumnType<string | null, string | null | undefined, string | null>;
}

/** Wipes of a simulated machine's devices (migration 0004). */
export interface SandboxDeviceEventsTable {
  id: Generated<string>;
  machine_id: string;
  action: string;
  device: string;
  cluster_id: string | null;
  operation_id: string | null;
  at: Generated<Date>;
}

export interface SandboxCephTable {
  cluster_id: string;
  state: Json<unknown>;
  updated_at: Timestamp;
  /** Set from a sequence on every insert and update (trigger; migration 2026-12-05-0601): never seen twice. */
  revision: Generated<string>;
}

/** One change an operation made (the change ledger); see db/repositories/operation-changes.repository.ts. */
export interface OperationChangesTable {
  id: Generated<string>;
  operation_id: string;
  workflow_id: string;
  kind: string;
  subject: string;
  details: JsonDefault<Record<string, unknown>>;
  state: ColumnType<'open' | 'undone' | 'kept' | 'left', 'open' | 'undone' | 'kept' | 'left' | undefined>;
  note: string | null;
  created_at: Timestamp;
  closed_at: NullableTimestamp;
}

/** The outbox (issue 11): one row per state change, written in the change's transaction. */
export interface EventsTable {
  seq: Generated<string>;
  id: Generated<string>;
  account_id: string;
  environment: EnvironmentName;
  type: string;
  cluster_id: string | null;
  node_id: string | null;
  operation_id: string | null;
  data: JsonDefault<Record<string, unknown>>;
  created_at: Generated<Date>;
}

export interface WebhooksTable {
  id: string;
  account_id: string;
  environment: EnvironmentName;
  url: string;
  events: string[];
  secret_enc: string;
  disabled_at: NullableTimestamp;
  disabled_reason: string | null;
  created_at: Generated<Date>;
}

/** One attempt to deliver: when, and what the receiver answered (or why there was no answer). */
export interface DeliveryAttempt {
  at: string;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

export interface WebhookDeliveriesTable {
  id: string;
  webhook_id: string;
  event_id: string;
  status: ColumnType<'pending' | 'delivered' | 'failed', 'pending' | 'delivered' | 'failed' | undefined>;
  attempts: JsonDefault<DeliveryAttempt[]>;
  created_at: Generated<Date>;
  completed_at: NullableTimestamp;
  /** When the dispatcher started the delivery's workflow (workflow id = delivery id). */
  dispatched_at: NullableTimestamp;
}

export interface Database {
  accounts: AccountsTable;
  api_keys: ApiKeysTable;
  clusters: ClustersTable;
  nodes: NodesTable;
  osds: OsdsTable;
  pools: PoolsTable;
  operations: OperationsTable;
  operation_locks: OperationLocksTable;
  idempotency_keys: IdempotencyKeysTable;
  rate_limit_windows: RateLimitWindowsTable;
  sandbox_machines: SandboxMachinesTable;
  sandbox_power_events: SandboxPowerEventsTable;
  sandbox_device_events: SandboxDeviceEventsTable;
  sandbox_ceph: SandboxCephTable;
  operation_changes: OperationChangesTable;
  api_instances: ApiInstancesTable;
  events: EventsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  cluster_health_checks: ClusterHealthChecksTable;
  cluster_health: ClusterHealthTable;
  node_maintenance: NodeMaintenanceTable;
}

/** A node in maintenance mode and what entering it changed (issue 13; migration 2026-12-05-0008-node-maintenance). */
export interface NodeMaintenanceTable {
  node_id: string;
  cluster_id: string | null;
  hostname: string;
  osd_ids: JsonDefault<number[]>;
  /** NodeFoundry set the host's noout on entry (the exit unsets it). */
  noout_set: ColumnType<boolean, boolean | undefined, boolean>;
  /** noout was already set on the host before (an operator's): the exit leaves it. */
  noout_found: ColumnType<boolean, boolean | undefined, boolean>;
  powered_off: ColumnType<boolean, boolean | undefined, boolean>;
  /** The operation that entered maintenance. */
  operation_id: string;
  entered_at: Timestamp;
}

/** A health check in effect now (Ceph's, or NodeFoundry's own NF_* drift check), since it was first seen. */
export interface ClusterHealthChecksTable {
  cluster_id: string;
  code: string;
  source: 'ceph' | 'nodefoundry';
  severity: 'HEALTH_WARN' | 'HEALTH_ERR';
  summary: string;
  since: Timestamp;
  observed_at: Timestamp;
}

/** The cluster monitor's last reading of a cluster (one row per cluster). */
export interface ClusterHealthTable {
  cluster_id: string;
  flags: JsonDefault<string[]>;
  noout_hosts: JsonDefault<string[]>;
  autoscale_frozen: boolean | null;
  mons_in_quorum: JsonDefault<string[]>;
  mons_total: ColumnType<number, number | undefined>;
  mgr_available: ColumnType<boolean, boolean | undefined>;
  pgs_total: ColumnType<number, number | undefined>;
  pgs_active_clean: ColumnType<number, number | undefined>;
  unreachable_reason: string | null;
  observed_at: Timestamp;
  /** Raw capacity from Ceph's PG map, bytes (bigint: pg returns a string); null until read (issue 11). */
  raw_bytes: ColumnType<string | null, number | null | undefined, number | null>;
  used_bytes: ColumnType<string | null, number | null | undefined, number | null>;
  avail_bytes: ColumnType<string | null, number | null | undefined, number | null>;
}

export type Account = Selectable<AccountsTable>;
export type ApiKey = Selectable<ApiKeysTable>;
export type Cluster = Selectable<ClustersTable>;
export type Node = Selectable<NodesTable>;
export type Osd = Selectable<OsdsTable>;
export type Pool = Selectable<PoolsTable>;
export type NewNode = Insertable<NodesTable>;
export type NodeUpdate = Updateable<NodesTable>;
export type Operation = Selectable<OperationsTable>;
export type NewOperation = Insertable<OperationsTable>;
export type SandboxMachine = Selectable<SandboxMachinesTable>;
export type OperationChange = Selectable<OperationChangesTable>;
export type Event = Selectable<EventsTable>;
export type Webhook = Selectable<WebhooksTable>;
export type WebhookDelivery = Selectable<WebhookDeliveriesTable>;

export type Db = Kysely<Database>;
/** What every repository function runs on: the pool, or the caller's transaction. */
export type Executor = Kysely<Database> | Transaction<Database>;

/** One pool per process (STYLE 5). */
export function createDb(connectionString: string, max = 10): Db {
  const pool = new pg.Pool({ connectionString, max });
  // An idle client that errors (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: preparingPool(pool) }) });
}

/** Statement texts registered by preparedStatement, with their names. */
const PREPARED = new Map<string, string>();

/**
 * Registers a hot statement's text (a fixed text with $n parameters, e.g. a list page's, issue 14)
 * to run as a named prepared statement on every connection of a createDb pool: PostgreSQL parses it
 * once per connection and may reuse its plan, instead of parsing and planning it on every request
 * (planning the list pages' one statement cost PostgreSQL more than running it). Run it with
 * `db.executeQuery(CompiledQuery.raw(text, params))`; other handles (a test's own pool) run it
 * unnamed, with the same result. Returns the text.
 */
export function preparedStatement(text: string): string {
  if (!PREPARED.has(text)) PREPARED.set(text, `nf_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`);
  return text;
}

/** The pool kysely uses: as pg's, except that registered statements are sent as named ones. */
function preparingPool(pool: pg.Pool): PostgresPool {
  return {
    connect: async () => {
      const client = await pool.connect();
      return {
        query: ((text: unknown, parameters?: ReadonlyArray<unknown>) => {
          const name = typeof text === 'string' ? PREPARED.get(text) : undefined;
          if (name === undefined) return client.query(text as never, parameters as never);
          return client.query({ name, text: text as string, values: parameters as unknown[] });
        }) as unknown as PostgresPoolClient['query'],
        release: () => client.release(),
      };
    },
    end: () => pool.end(),
  };
}

export const json = (v: unknown): string => JSON.stringify(v);

/** A round trip to PostgreSQL (health checks, waiting for the server at deploy). */
export async function pingDatabase(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}
