import type { Transaction } from 'kysely';
import type { Database, EnvironmentName, Event, Executor } from '../database';
import { json } from '../database';
import type { Scope } from './operations.repository';

/**
 * The event names a webhook may subscribe to (SPEC §2). Status changes of operations, clusters and
 * nodes are written by triggers (db/migrations/2026-12-05-0002-events.ts) in the transaction of the
 * change; the others are raised by the application through recordEvent, in its own transaction.
 */
export const EVENT_TYPES = [
  'operation.started',
  'operation.completed',
  'operation.failed',
  'operation.cancelled',
  'cluster.status_changed',
  'cluster.health_check_raised',
  'cluster.health_check_cleared',
  'node.status_changed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Sent by POST /v1/webhooks/{id}/test to that webhook only; listed, never subscribed to. */
export const TEST_EVENT_TYPE = 'webhook.test';
/** Every type GET /v1/events may show. */
export const LISTED_EVENT_TYPES = [...EVENT_TYPES, TEST_EVENT_TYPE] as const;

export interface NewEvent {
  accountId: string;
  environment: EnvironmentName;
  type: EventType | typeof TEST_EVENT_TYPE;
  clusterId?: string | null;
  nodeId?: string | null;
  operationId?: string | null;
  data?: Record<string, unknown>;
}

/**
 * Records an event in the caller's transaction (the outbox): it exists if and only if the change it
 * reports commits. Takes a Transaction, not the pool, so an event cannot be written on its own.
 */
export async function recordEvent(trx: Transaction<Database>, e: NewEvent): Promise<Event> {
  return trx
    .insertInto('events')
    .values({
      account_id: e.accountId,
      environment: e.environment,
      type: e.type,
      cluster_id: e.clusterId ?? null,
      node_id: e.nodeId ?? null,
      operation_id: e.operationId ?? null,
      data: json(e.data ?? {}),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export interface EventFilter {
  type?: string;
  clusterId?: string;
  nodeId?: string;
  operationId?: string;
}

/** A page of the scope's events, newest first (by seq, the order they were committed in). */
export async function listEvents(
  db: Executor,
  scope: Scope,
  filter: EventFilter,
  page: { limit: number; offset: number },
): Promise<{ rows: Event[]; total: number }> {
  let q = db
    .selectFrom('events')
    .where('account_id', '=', scope.accountId)
    .where('environment', '=', scope.environment);
  if (filter.type) q = q.where('type', '=', filter.type);
  if (filter.clusterId) q = q.where('cluster_id', '=', filter.clusterId);
  if (filter.nodeId) q = q.where('node_id', '=', filter.nodeId);
  if (filter.operationId) q = q.where('operation_id', '=', filter.operationId);
  const [rows, count] = await Promise.all([
    q.selectAll().orderBy('seq', 'desc').limit(page.limit).offset(page.offset).execute(),
    q.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.n) };
}
