import type { Client } from '@temporalio/client';
import { SA_OPERATION_ID } from '../workflows/contracts';

/**
 * What an upgrade cost Temporal, read back from the histories of every workflow the operation
 * created (each run of the parent, continued-as-new ones included, and every child): the profile
 * docs/development.md quotes, and the shape the baseline workflow copies.
 */
export interface UpgradeProfile {
  /** Workflow executions (runs) found: parent runs + children. */
  executions: number;
  parentRuns: number;
  children: number;
  /** The longest history, in events, and whose it is. */
  maxEvents: number;
  maxEventsOf: string;
  /** Activities one host's child ran (the most any child ran; all ran the same in a clean upgrade). */
  activitiesPerHost: number;
  /** Events in one child's history (the most). */
  eventsPerHost: number;
  /** Activities the parent ran before each batch (ok-to-stop and health gates), on average. */
  gatesPerBatch: number;
  /** Parent activities outside the batch gates (preflight, mgrs, mons, finish…). */
  parentOneOff: number;
  /** Hosts per batch, in order, as the parent started them. */
  batches: number[];
  /** Payload bytes in all histories (inputs and results), and the largest single payload. */
  payloadBytes: number;
  largestPayload: number;
  /** Activity types a child ran, with counts (one child). */
  childActivityTypes: Record<string, number>;
}

const GATES = new Set(['assertNotHealthErr', 'checkOkToStop', 'okToStopPrefix']);

export async function profileUpgrade(
  client: Client,
  operationId: string,
  parentWorkflowId: string,
): Promise<UpgradeProfile> {
  const execs: { workflowId: string; runId: string }[] = [];
  for await (const wf of client.workflow.list({ query: `${SA_OPERATION_ID.name} = "${operationId}"` }))
    execs.push({ workflowId: wf.workflowId, runId: wf.runId });
  const p: UpgradeProfile = {
    executions: 0,
    parentRuns: 0,
    children: 0,
    maxEvents: 0,
    maxEventsOf: '',
    activitiesPerHost: 0,
    eventsPerHost: 0,
    gatesPerBatch: 0,
    parentOneOff: 0,
    batches: [],
    payloadBytes: 0,
    largestPayload: 0,
    childActivityTypes: {},
  };
  let gates = 0;
  // Parent runs in start order, so batches come out in order.
  const parents: { runId: string; events: any[] }[] = [];
  for (const e of execs) {
    const h = await client.workflow.getHandle(e.workflowId, e.runId).fetchHistory();
    const events = h.events ?? [];
    p.executions += 1;
    if (events.length > p.maxEvents) {
      p.maxEvents = events.length;
      p.maxEventsOf = `${e.workflowId} (${e.runId})`;
    }
    for (const ev of events) {
      const sizes = payloadSizes(ev);
      for (const s of sizes) {
        p.payloadBytes += s;
        p.largestPayload = Math.max(p.largestPayload, s);
      }
    }
    const scheduled = events.filter((ev) => ev.activityTaskScheduledEventAttributes);
    if (e.workflowId === parentWorkflowId) {
      p.parentRuns += 1;
      parents.push({ runId: e.runId, events });
    } else {
      p.children += 1;
      if (scheduled.length > p.activitiesPerHost) {
        p.activitiesPerHost = scheduled.length;
        p.childActivityTypes = {};
        for (const ev of scheduled) {
          const t = ev.activityTaskScheduledEventAttributes!.activityType!.name!;
          p.childActivityTypes[t] = (p.childActivityTypes[t] ?? 0) + 1;
        }
      }
      p.eventsPerHost = Math.max(p.eventsPerHost, events.length);
    }
  }
  const startTime = (evs: any[]) =>
    Number(evs[0]?.eventTime?.seconds ?? 0) * 1000 + Number(evs[0]?.eventTime?.nanos ?? 0) / 1e6;
  parents.sort((a, b) => startTime(a.events) - startTime(b.events));
  for (const { events } of parents) {
    // Children initiated by one workflow task form one batch.
    let current = 0;
    for (const ev of events) {
      if (ev.startChildWorkflowExecutionInitiatedEventAttributes) current += 1;
      else if (ev.workflowTaskCompletedEventAttributes || ev.workflowTaskScheduledEventAttributes) {
        if (current > 0) p.batches.push(current);
        current = 0;
      }
      const t = ev.activityTaskScheduledEventAttributes?.activityType?.name;
      if (t && GATES.has(t)) gates += 1;
      else if (t) p.parentOneOff += 1;
    }
    if (current > 0) p.batches.push(current);
  }
  p.gatesPerBatch = p.batches.length ? gates / p.batches.length : 0;
  return p;
}

/** Byte sizes of the payloads one history event carries (inputs, results, markers). */
function payloadSizes(ev: unknown): number[] {
  const out: number[] = [];
  const walk = (v: unknown) => {
    if (!v || typeof v !== 'object') return;
    if (v instanceof Uint8Array) return;
    const o = v as Record<string, unknown>;
    if (Array.isArray(o.payloads)) {
      for (const pl of o.payloads as { data?: Uint8Array | null }[]) out.push(pl?.data?.length ?? 0);
      return;
    }
    for (const k of Object.keys(o)) walk(o[k]);
  };
  walk(ev);
  return out;
}
