import { Context } from '@temporalio/activity';
import * as changes from '../db/repositories/operation-changes.repository';
import type { ChangeKind } from '../db/repositories/operation-changes.repository';
import { operationIdOfWorkflow } from '../db/repositories/operations.repository';
import type { ActivityDeps } from './deps';

/** The operation an activity works for, found from the workflow that called it. */
export interface LedgerScope {
  operationId: string;
  workflowId: string;
}

/** An upgrade's host child (`<cluster>/upgrade/<op>/host/<hostname>`, contracts.ts) belongs to its parent's operation. */
const CHILD_OF_UPGRADE = /^(.+\/upgrade\/[^/]+)\/host\/[^/]+$/;

/** The workflow id of the operation row a workflow works for: its own, or its upgrade parent's for a host child. */
export function operationWorkflowIdOf(workflowId: string): string {
  return CHILD_OF_UPGRADE.exec(workflowId)?.[1] ?? workflowId;
}

const cache = new Map<string, string | null>();
const CACHE_MAX = 2000;

/**
 * Which operation the calling workflow runs, with no change to workflow code (recorded histories
 * keep replaying): the activity's workflow id is the operation row's workflow_id, or, for an
 * upgrade's host child, the parent's id plus `/host/<hostname>`. Null outside an operation (a dry
 * run, a test calling the activity directly): nothing is recorded then.
 */
export async function currentOperation(deps: ActivityDeps): Promise<LedgerScope | null> {
  let workflowId: string | undefined;
  try {
    workflowId = Context.current().info.workflowExecution?.workflowId;
  } catch {
    return null;
  }
  if (!workflowId) return null;
  if (!cache.has(workflowId)) {
    const own = operationWorkflowIdOf(workflowId);
    const id = await operationIdOfWorkflow(deps.db, own);
    if (cache.size >= CACHE_MAX) cache.clear();
    // Only hits are cached: a miss may be a row not yet visible to this connection.
    if (!id) return null;
    cache.set(workflowId, id);
  }
  const operationId = cache.get(workflowId);
  return operationId ? { operationId, workflowId } : null;
}

/**
 * The ledger as activities use it: `before` a change is made (so a lost reply still leaves the
 * record), `undone` once the activity that reverses it succeeded. Both are no-ops outside an operation.
 */
export function createLedger(deps: ActivityDeps) {
  return {
    async before(kind: ChangeKind, subject: string, details: Record<string, unknown> = {}): Promise<void> {
      const scope = await currentOperation(deps);
      if (scope) await changes.recordChange(deps.db, { ...scope, kind, subject, details });
    },

    /** The open entry this operation recorded for (kind, subject), if any. */
    async open(kind: ChangeKind, subject: string) {
      const scope = await currentOperation(deps);
      return scope ? changes.openChange(deps.db, scope.operationId, kind, subject) : undefined;
    },

    async undone(kind: ChangeKind, subject: string, note: string | null = null): Promise<void> {
      const scope = await currentOperation(deps);
      if (scope) await changes.closeChanges(deps.db, { operationId: scope.operationId, kind, subject }, 'undone', note);
    },

    /** Closes the open entries of `kind` that `match` selects (e.g. stopped OSDs now all up). */
    async undoneWhere(
      kind: ChangeKind,
      match: (details: Record<string, unknown>, subject: string) => boolean,
    ): Promise<void> {
      const scope = await currentOperation(deps);
      if (!scope) return;
      const open = (await changes.openChanges(deps.db, scope.operationId)).filter(
        (c) => c.kind === kind && match(c.details, c.subject),
      );
      await changes.closeChanges(
        deps.db,
        { operationId: scope.operationId, kind, ids: open.map((c) => c.id) },
        'undone',
      );
    },
  };
}

export type Ledger = ReturnType<typeof createLedger>;

export const hostSubject = (clusterId: string, host: string) => `${clusterId}/${host}`;
export const osdSubject = (clusterId: string, osdId: number) => `${clusterId}/osd.${osdId}`;
