import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { OperationDeps, startOperation } from '../../api/services/operations.service';
import type {
  CreateClusterInput,
  DeleteClusterInput,
  ImportClusterInput,
  PoolOperationInput,
  RebootNodeInput,
  RegisterNodeInput,
  ReweightOsdInput,
  UpgradeClusterRunInput,
} from '../../workflows/contracts';
import * as workflows from '../../workflows';
import {
  OPERATIONS,
  OPERATION_TYPES,
  PAUSABLE_TYPES,
  type OperationType,
  type StepList,
} from '../../workflows/registry';
import type { OperationInput } from '../../workflows/registry.types';

/**
 * The operation registry (workflows/registry.ts) against what the worker serves and what was
 * recorded: an entry whose workflow is not exported from workflows/index.ts, or has no recorded
 * history to replay, fails here, before any server runs.
 */
const HISTORIES = path.resolve(__dirname, '../replay/histories');
const historyFiles = readdirSync(HISTORIES).filter((f) => f.endsWith('.json'));
const historiesOf = (workflowType: string) => historyFiles.filter((f) => f.startsWith(`${workflowType}--`));

interface HistoryEvent {
  eventType: string;
  activityTaskScheduledEventAttributes?: { activityType: { name: string }; input?: { payloads?: { data: string }[] } };
  workflowExecutionUpdateAcceptedEventAttributes?: { acceptedRequest: { input: { name: string } } };
}
const eventsOf = (file: string): HistoryEvent[] =>
  (JSON.parse(readFileSync(path.join(HISTORIES, file), 'utf8')) as { events: HistoryEvent[] }).events;

/** The step names of the final state a recorded run wrote (its finishOperation activity), if it wrote one. */
function recordedSteps(file: string): string[] | null {
  const finish = eventsOf(file).find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType.name === 'finishOperation',
  );
  const data = finish?.activityTaskScheduledEventAttributes?.input?.payloads?.[0]?.data;
  if (!data) return null;
  const arg = JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as { snapshot: { steps: { name: string }[] } };
  return arg.snapshot.steps.map((s) => s.name);
}

const stepLists = (steps: StepList | { readonly [variant: string]: StepList }): StepList[] =>
  Array.isArray(steps) ? [steps as StepList] : Object.values(steps as { readonly [variant: string]: StepList });

describe('operation registry', () => {
  it('lists every operation type once, with distinct workflow types', () => {
    expect(OPERATION_TYPES.length).toBeGreaterThanOrEqual(9);
    const names = OPERATION_TYPES.map((t) => OPERATIONS[t].workflowType);
    expect(new Set(names).size).toBe(names.length);
    // The verb is the workflow id's middle part (`<resource>/<verb>/<operation>`): never empty.
    for (const t of OPERATION_TYPES) expect(t, t).toMatch(/^[a-z]+\.[a-z]+$/);
  });

  it.each(OPERATION_TYPES)("%s: its workflow is exported from workflows/index.ts (the worker's bundle)", (type) => {
    const name = OPERATIONS[type].workflowType;
    expect(Object.keys(workflows), `${name} is not exported from workflows/index.ts`).toContain(name);
    expect(typeof (workflows as Record<string, unknown>)[name]).toBe('function');
  });

  it.each(OPERATION_TYPES)('%s: its workflow has a recorded history in test/replay/histories', (type) => {
    const name = OPERATIONS[type].workflowType;
    expect(historiesOf(name), `no test/replay/histories/${name}--<case>.json`).not.toEqual([]);
  });

  it.each(OPERATION_TYPES)('%s: every recorded final state reports one of its registered step lists', (type) => {
    const lists = stepLists(OPERATIONS[type].steps).map((l) => [...l]);
    const recorded = historiesOf(OPERATIONS[type].workflowType)
      .map(recordedSteps)
      .filter((s): s is string[] => s !== null);
    expect(recorded.length, 'no recorded run wrote its final state').toBeGreaterThan(0);
    for (const steps of recorded) expect(lists).toContainEqual(steps);
  });

  it('marks pausable exactly the operations whose recorded runs accepted a pause', () => {
    const paused = OPERATION_TYPES.filter((t) =>
      historiesOf(OPERATIONS[t].workflowType).some((f) =>
        eventsOf(f).some(
          (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest.input.name === 'pause',
        ),
      ),
    );
    expect([...PAUSABLE_TYPES].sort()).toEqual(paused.sort());
  });

  it('derives each start input from the registry entry', () => {
    // Checked by the compiler (tsc), which is what makes startOperation type-safe.
    expectTypeOf<OperationInput<'node.register'>>().toEqualTypeOf<RegisterNodeInput>();
    expectTypeOf<OperationInput<'node.reboot'>>().toEqualTypeOf<RebootNodeInput>();
    expectTypeOf<OperationInput<'cluster.create'>>().toEqualTypeOf<CreateClusterInput>();
    expectTypeOf<OperationInput<'cluster.import'>>().toEqualTypeOf<ImportClusterInput>();
    expectTypeOf<OperationInput<'cluster.upgrade'>>().toEqualTypeOf<UpgradeClusterRunInput>();
    expectTypeOf<OperationInput<'cluster.delete'>>().toEqualTypeOf<DeleteClusterInput>();
    expectTypeOf<OperationInput<'osd.reweight'>>().toEqualTypeOf<ReweightOsdInput>();
    expectTypeOf<OperationInput<'pool.create'>>().toEqualTypeOf<PoolOperationInput>();
    expectTypeOf<OperationInput<'pool.delete'>>().toEqualTypeOf<PoolOperationInput>();

    // startOperation accepts the entry's input and rejects another one. Never called: tsc checks it.
    const probe = (start: typeof startOperation, deps: OperationDeps) => {
      const base = {
        accountId: 'acct',
        environment: 'sandbox' as const,
        requestId: 'req',
        primaryResourceId: 'node_x',
        lockResourceIds: ['node_x'],
        params: {},
        summary: 's',
      };
      void start(deps, {
        ...base,
        type: 'node.reboot',
        input: (operationId) => ({
          operationId,
          accountId: 'acct',
          nodeId: 'node_x',
          method: 'hard',
          drainOsds: false,
        }),
      });
      void start(deps, {
        ...base,
        type: 'node.reboot',
        // @ts-expect-error -- a pool's input for a reboot: no nodeId, method or drainOsds.
        input: (operationId) => ({ operationId, accountId: 'acct', clusterId: 'clus_x', poolId: 'pool_x' }),
      });
      // @ts-expect-error -- an operation type the registry does not have.
      void start(deps, { ...base, type: 'node.explode', input: (operationId) => ({ operationId, accountId: 'acct' }) });
    };
    expect(probe).toBeTypeOf('function');
    const typed: OperationType[] = OPERATION_TYPES;
    expect(typed).toEqual(Object.keys(OPERATIONS));
  });
});
