/**
 * The invariants of a chaos run, checked over evidence gathered from the outside after quiesce
 * (HTTP answers, PostgreSQL rows, the sandbox's machines and Ceph). Pure: the unit test feeds it
 * doctored evidence, and `--break` shows the whole run failing on a real broken state.
 */
import { isOutcomeUnknown, type RequestRecord } from './client';
import type { Downtime } from './processes';

export const INVARIANTS = [
  'terminal',
  'answered',
  'no_5xx',
  'idempotency',
  'power_cycle',
  'stray_power',
  'machines_on',
  'locks',
  'noout',
  'osds_up',
  'crush_weights',
  'autoscale',
  'rows_settled',
] as const;
export type Invariant = (typeof INVARIANTS)[number];

/** What each invariant says, for the summary. */
export const INVARIANT_TEXT: Record<Invariant, string> = {
  terminal: 'every operation (every 202, every row) reached completed/failed/cancelled within the quiesce bound',
  answered: 'every request got a definite answer (2xx/4xx) within 60 s of its first attempt',
  no_5xx:
    'no 5xx while the API was up (503 service_unavailable only while Temporal was down, or naming the operation whose outcome is unknown)',
  idempotency: 'no request executed twice for one Idempotency-Key (one operation per key, replays name it)',
  power_cycle:
    'each reboot: exactly one power cycle if completed, none if cancelled before power_off, back on otherwise',
  stray_power:
    'every chassis command sent by a reboot of that node (or an os_packages upgrade of its cluster) while it ran',
  machines_on: 'every machine powered on at the end (not off, not shutting down)',
  locks: 'no operation_locks row left',
  noout: 'no noout flag left (global or per host)',
  osds_up: 'no stopped or down OSD left',
  crush_weights: 'every CRUSH weight as at the start or as the last completed reweight set it',
  autoscale: 'PG autoscaling not frozen, pool modes as created',
  rows_settled: 'no pool, node or cluster row left in a transitional status',
};

/**
 * How long a client may go without a definite answer: the API restarts within seconds, so a lost
 * answer must be resolved soon after (not by a 5-minute takeover of the Idempotency-Key).
 */
export const ANSWER_BOUND_MS = 60_000;
/** A restarted Temporal is answering, but clients reconnect with a backoff. */
export const TEMPORAL_GRACE_MS = 15_000;
/** Power events carry the worker's clock, operation rows the database's: same host, small slack. */
const WINDOW_SLACK_MS = 1_000;
/** The error code of an operation whose workflow never started (it changed nothing). */
const NOT_STARTED = 'not_started';

export interface OpEvidence {
  id: string;
  type: string;
  /** The row's status, and what GET /v1/operations/{id} answered. */
  status: string;
  viewStatus: string | null;
  request_id: string;
  node_id: string | null;
  cluster_id: string | null;
  osd_id: number | null;
  params: Record<string, unknown>;
  steps: { name: string; status: string; started_at: string | null }[];
  error: { code: string; message: string } | null;
  lastLogs: string[];
  created_at: number;
  completed_at: number | null;
}

export interface PowerCommand {
  action: string;
  at: number;
  /**
   * The operation that sent it (sandbox_power_events.operation_id; an upgrade's host children name
   * the upgrade). Null or absent for a command sent outside any workflow: then attributed by time.
   */
  operationId?: string | null;
}

export interface MachineEvidence {
  nodeId: string;
  hostname: string;
  clusterId: string;
  power_state: string;
  shutting_down: boolean;
  running: boolean;
  shutdown_delay_ms: number;
  powerLog: PowerCommand[];
}

export interface ClusterEvidence {
  id: string;
  nooutHosts: string[];
  flags: string[];
  osds: { id: number; host: string; up: boolean; in: boolean; crush_weight: number }[];
  initialWeights: Record<number, number>;
  noautoscale: boolean;
  cephPools: { name: string; pg_autoscale_mode: string }[];
}

export interface Evidence {
  startedAt: number;
  endedAt: number;
  requests: RequestRecord[];
  downtimes: Downtime[];
  operations: OpEvidence[];
  locks: { resource_id: string; operation_id: string }[];
  machines: MachineEvidence[];
  clusters: ClusterEvidence[];
  rows: {
    pools: { id: string; cluster_id: string; name: string; status: string; pg_autoscale: boolean }[];
    nodes: { id: string; hostname: string; status: string }[];
    clusters: { id: string; status: string }[];
  };
}

export interface Violation {
  invariant: Invariant;
  message: string;
  evidence: Record<string, unknown>;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export function checkInvariants(e: Evidence): Violation[] {
  const out: Violation[] = [];
  const add = (invariant: Invariant, message: string, evidence: Record<string, unknown>) =>
    out.push({ invariant, message, evidence });
  const opById = new Map(e.operations.map((o) => [o.id, o]));
  const opSummary = (o: OpEvidence) => ({
    operation_id: o.id,
    type: o.type,
    status: o.status,
    view_status: o.viewStatus,
    request_id: o.request_id,
    created_at: iso(o.created_at),
    completed_at: iso(o.completed_at),
    steps: o.steps
      .filter((s) => s.status !== 'pending')
      .map((s) => `${s.name}:${s.status}`)
      .join(' '),
    error: o.error,
    last_logs: o.lastLogs,
    // Cancels, pauses and resumes sent to it, and their answers.
    requests: e.requests
      .filter((r) => r.path.startsWith(`/v1/operations/${o.id}/`))
      .map((r) => `${r.kind} ${iso(r.attempts[0]?.at ?? null)} → ${r.final ? r.final.status : 'no answer'}`),
  });

  // ---- terminal ----
  for (const o of e.operations) {
    if (!TERMINAL.has(o.status) || (o.viewStatus !== null && !TERMINAL.has(o.viewStatus))) {
      add(
        'terminal',
        `operation ${o.id} (${o.type}) is still ${o.status}${o.viewStatus && o.viewStatus !== o.status ? ` (API: ${o.viewStatus})` : ''}`,
        {
          ...opSummary(o),
        },
      );
    }
  }
  for (const r of e.requests) {
    if (r.final?.status === 202 && r.final.operationId && !opById.has(r.final.operationId)) {
      add('terminal', `request ${r.rid} was accepted as ${r.final.operationId}, which does not exist`, {
        request_id: r.rid,
        path: r.path,
      });
    }
  }

  // ---- answered ----
  for (const r of e.requests) {
    const first = r.attempts[0];
    const answeredAt = r.final ? r.attempts.at(-1)!.at + r.attempts.at(-1)!.ms : null;
    const waited = first ? (answeredAt ?? e.endedAt) - first.at : 0;
    if (r.final === null || waited > ANSWER_BOUND_MS) {
      const lost: Record<string, number> = {};
      for (const a of r.attempts) {
        const k = a.status === null ? `no answer (${a.error})` : `${a.status}${a.code ? ` ${a.code}` : ''}`;
        lost[k] = (lost[k] ?? 0) + 1;
      }
      add(
        'answered',
        `${r.method} ${r.path} (${r.rid}) ${r.final ? `got its answer (${r.final.status}${r.final.code ? ` ${r.final.code}` : ''}) only after ${(waited / 1000).toFixed(0)} s` : `got no definite answer in ${(waited / 1000).toFixed(0)} s`} of retries`,
        {
          request_id: r.rid,
          first_attempt: iso(first?.at ?? null),
          answers: lost,
          api_down: e.downtimes.filter((d) => d.process === 'api').map((d) => `${iso(d.from)}…${iso(d.to)}`),
          last_attempts: r.attempts
            .slice(-2)
            .map((a) => ({ at: iso(a.at), status: a.status, code: a.code, error: a.error })),
        },
      );
    }
  }

  // ---- no_5xx ----
  // With several API processes (`--topology`), only the dead one's downtime excuses an attempt sent to it.
  const overlaps = (a: { at: number; ms: number; target?: string }, p: string, grace: number) =>
    e.downtimes.some(
      (d) =>
        d.process === p &&
        (d.instance === undefined || a.target === undefined || d.instance === a.target) &&
        a.at <= (d.to ?? e.endedAt) + grace &&
        a.at + a.ms >= d.from,
    );
  for (const r of e.requests) {
    for (const a of r.attempts) {
      if (a.status === null || a.status < 500) continue;
      // The API's "outcome unknown" answer (503 naming the operation) is honest, not a failure:
      // the client resends and must then meet that operation (checked under `idempotency`).
      if (overlaps(a, 'api', 0) || isOutcomeUnknown(a)) continue;
      if (a.status === 503 && a.code === 'service_unavailable' && overlaps(a, 'temporal', TEMPORAL_GRACE_MS)) continue;
      add(
        'no_5xx',
        `${r.method} ${r.path} (${r.rid}) answered ${a.status} ${a.code ?? ''} at ${iso(a.at)} while the API was up`,
        {
          request_id: r.rid,
          status: a.status,
          code: a.code,
          at: iso(a.at),
          temporal_down: overlaps(a, 'temporal', 0),
        },
      );
    }
  }

  // ---- idempotency ----
  const byRequest = new Map<string, OpEvidence[]>();
  for (const o of e.operations) byRequest.set(o.request_id, [...(byRequest.get(o.request_id) ?? []), o]);
  for (const [rid, ops] of byRequest) {
    // An operation that ended `not_started` changed nothing and released its key (the API answered
    // 503 "nothing was changed. Try again."), so the same key may start the request once more.
    if (ops.filter((o) => o.error?.code !== NOT_STARTED).length > 1) {
      add(
        'idempotency',
        `request ${rid} started ${ops.length} operations: ${ops.map((o) => `${o.id} (${o.status})`).join(', ')}`,
        {
          request_id: rid,
          operations: ops.map(opSummary),
          attempts:
            e.requests
              .find((r) => r.rid === rid)
              ?.attempts.map((a) => ({ at: iso(a.at), status: a.status, code: a.code, error: a.error })) ?? [],
        },
      );
    }
  }
  for (const r of e.requests) {
    if (r.operationIds.length > 1) {
      add('idempotency', `request ${r.rid}: its answers named different operations ${r.operationIds.join(', ')}`, {
        request_id: r.rid,
        operation_ids: r.operationIds,
      });
    }
    // A 503 with an unknown outcome names the operation bound to the key: the retry must meet it
    // (202 naming it), unless it ended not_started (nothing changed, the key was released).
    const unknown = [...new Set(r.attempts.filter(isOutcomeUnknown).map((a) => a.operationId!))];
    for (const id of unknown) {
      const o = opById.get(id);
      const named = r.final && r.final.status >= 200 && r.final.status < 300 ? r.final.operationId : null;
      if (named !== null && named !== id && o?.error?.code !== NOT_STARTED) {
        add(
          'idempotency',
          `request ${r.rid}: a 503 named ${id} (outcome unknown), yet its retry was answered with ${named}`,
          {
            request_id: r.rid,
            unknown_outcome_of: o ? opSummary(o) : id,
            answered_with: named,
            attempts: r.attempts.map((a) => ({
              at: iso(a.at),
              status: a.status,
              code: a.code,
              operation_id: a.operationId ?? null,
            })),
          },
        );
      }
    }
  }

  checkPower(e, opById, add);

  // ---- locks ----
  for (const l of e.locks) {
    const o = opById.get(l.operation_id);
    add('locks', `lock ${l.resource_id} still held by ${l.operation_id}${o ? ` (${o.type}, ${o.status})` : ''}`, {
      ...l,
      operation: o ? opSummary(o) : null,
    });
  }

  for (const c of e.clusters) {
    // ---- noout ----
    if (c.nooutHosts.length > 0 || c.flags.includes('noout')) {
      add('noout', `cluster ${c.id}: noout left on ${c.nooutHosts.length ? c.nooutHosts.join(', ') : 'the cluster'}`, {
        cluster_id: c.id,
        noout_hosts: c.nooutHosts,
        flags: c.flags,
      });
    }
    // ---- osds_up ----
    for (const o of c.osds) {
      if (!o.up || !o.in)
        add('osds_up', `cluster ${c.id}: osd.${o.id} on ${o.host} is ${o.up ? 'up' : 'down'}/${o.in ? 'in' : 'out'}`, {
          cluster_id: c.id,
          ...o,
        });
    }
    // ---- crush_weights ----
    for (const o of c.osds) {
      const initial = c.initialWeights[o.id];
      if (initial === undefined) continue;
      const reweights = e.operations
        .filter((x) => x.type === 'osd.reweight' && x.cluster_id === c.id && x.osd_id === o.id)
        .sort((a, b) => (a.completed_at ?? Infinity) - (b.completed_at ?? Infinity));
      const last = reweights.filter((x) => x.status === 'completed').at(-1);
      const expected = last ? Math.round(Number(last.params.weight) * initial * 1e5) / 1e5 : initial;
      if (Math.abs(o.crush_weight - expected) > 1e-3) {
        add(
          'crush_weights',
          `cluster ${c.id}: osd.${o.id} has CRUSH weight ${o.crush_weight}, expected ${expected} (${last ? `set by ${last.id}` : 'its original weight'})`,
          {
            cluster_id: c.id,
            osd: o.id,
            actual: o.crush_weight,
            expected,
            reweights: reweights.map((x) => ({
              operation_id: x.id,
              weight: x.params.weight,
              status: x.status,
              completed_at: iso(x.completed_at),
              error: x.error,
            })),
          },
        );
      }
    }
    // ---- autoscale ----
    if (c.noautoscale)
      add('autoscale', `cluster ${c.id}: PG autoscaling is still frozen (noautoscale set)`, { cluster_id: c.id });
    for (const p of c.cephPools) {
      const row = e.rows.pools.find((r) => r.cluster_id === c.id && r.name === p.name && r.status === 'active');
      if (row && p.pg_autoscale_mode !== (row.pg_autoscale ? 'on' : 'off')) {
        add(
          'autoscale',
          `cluster ${c.id}: pool ${p.name} has pg_autoscale_mode ${p.pg_autoscale_mode}, created with ${row.pg_autoscale ? 'on' : 'off'}`,
          { cluster_id: c.id, pool: p.name },
        );
      }
    }
  }

  // ---- rows_settled ----
  for (const p of e.rows.pools)
    if (p.status === 'creating' || p.status === 'deleting')
      add('rows_settled', `pool ${p.name} (${p.id}) left ${p.status}`, { ...p });
  for (const n of e.rows.nodes)
    if (n.status === 'provisioning' || n.status === 'pending')
      add('rows_settled', `node ${n.hostname} (${n.id}) left ${n.status}`, { ...n });
  for (const c of e.rows.clusters)
    if (['CREATING', 'IMPORTING', 'DELETING'].includes(c.status))
      add('rows_settled', `cluster ${c.id} left ${c.status}`, { ...c });

  return out;
}

/**
 * What the chassis did, from the commands its BMC accepted (the sandbox's semantics): `off` turns
 * it off at once; `soft` turns it off after the OS's shutdown delay unless it is already off or
 * shutting down; `on` turns an off machine on and does nothing to one that is on — also while it is
 * shutting down, so the shutdown still completes. Each transition names the command that caused it.
 */
export function powerTransitions(
  log: PowerCommand[],
  shutdownDelayMs: number,
): { to: 'on' | 'off'; at: number; cause: number }[] {
  const out: { to: 'on' | 'off'; at: number; cause: number }[] = [];
  let on = true;
  let pending: { at: number; cause: number } | null = null;
  const settle = (t: number) => {
    if (pending && pending.at <= t) {
      on = false;
      out.push({ to: 'off', at: pending.at, cause: pending.cause });
      pending = null;
    }
  };
  log.forEach((c, i) => {
    settle(c.at);
    if (c.action === 'off' && on) {
      on = false;
      pending = null;
      out.push({ to: 'off', at: c.at, cause: i });
    } else if (c.action === 'soft' && on && !pending) {
      pending = { at: c.at + shutdownDelayMs, cause: i };
    } else if (c.action === 'on' && !on) {
      on = true;
      out.push({ to: 'on', at: c.at, cause: i });
    }
  });
  settle(Infinity);
  return out;
}

function checkPower(
  e: Evidence,
  opById: Map<string, OpEvidence>,
  add: (i: Invariant, m: string, ev: Record<string, unknown>) => void,
): void {
  for (const m of e.machines) {
    const log = m.powerLog.filter((c) => !c.action.startsWith('bootdev'));
    const transitions = powerTransitions(log, m.shutdown_delay_ms);
    const rel = (t: number) => `+${((t - e.startedAt) / 1000).toFixed(1)}s`;
    const shown = (cmds: number[]) => cmds.map((i) => `${log[i]!.action}@${rel(log[i]!.at)}`).join(' ');
    const reboots = e.operations.filter((o) => o.type === 'node.reboot' && o.node_id === m.nodeId);
    // Upgrades that may reboot hosts (os_packages) own a window too, without a cycle count.
    const owners = [
      ...reboots,
      ...e.operations.filter(
        (o) => o.type === 'cluster.upgrade' && o.cluster_id === m.clusterId && o.params.os_packages === true,
      ),
    ];
    const distance = (o: OpEvidence, t: number) => Math.max(0, o.created_at - t, t - (o.completed_at ?? e.endedAt));
    // Each command belongs to the operation that sent it (its power event names it). Only a command
    // with no operation id (sent outside any workflow) falls back to time: the operation running
    // when it was sent, else the nearest one within the slack.
    const attribute = (c: PowerCommand): { op: OpEvidence | null; stray: string | null } => {
      if (c.operationId) {
        const o = opById.get(c.operationId);
        if (!o) return { op: null, stray: `sent by ${c.operationId}, which is not an operation of this account` };
        if (!owners.includes(o))
          return {
            op: null,
            stray: `sent by ${o.id} (${o.type}${o.node_id ? ` of ${o.node_id}` : ''}), which may not power this machine`,
          };
        if (distance(o, c.at) > WINDOW_SLACK_MS)
          return {
            op: o,
            stray: `sent by ${o.id} (${o.type}) ${c.at < o.created_at ? 'before it was created' : 'after it ended'}`,
          };
        return { op: o, stray: null };
      }
      const o =
        owners
          .filter((x) => distance(x, c.at) <= WINDOW_SLACK_MS)
          .sort((a, b) => distance(a, c.at) - distance(b, c.at))[0] ?? null;
      return { op: o, stray: o ? null : 'with no operation id, while no operation of it was running' };
    };
    const attributed = log.map(attribute);
    const owner = attributed.map((a) => a.op);
    const by = (i: number) => (log[i]!.operationId ? 'id' : 'time');

    log.forEach((c, i) => {
      const stray = attributed[i]!.stray;
      if (stray) {
        add('stray_power', `${m.hostname}: power ${c.action} at ${iso(c.at)} (${rel(c.at)}) ${stray}`, {
          hostname: m.hostname,
          node_id: m.nodeId,
          command: c.action,
          at: iso(c.at),
          operation_id: c.operationId ?? null,
          power_log: shownWithOps(log, rel),
          reboots: reboots.map((o) => ({
            operation_id: o.id,
            status: o.status,
            from: rel(o.created_at),
            to: o.completed_at ? rel(o.completed_at) : null,
          })),
        });
      }
    });

    for (const o of reboots) {
      if (!TERMINAL.has(o.status)) continue; // reported by `terminal`
      const cmds = log.map((_, i) => i).filter((i) => owner[i] === o);
      const mine = transitions.filter((t) => cmds.includes(t.cause));
      const offs = mine.filter((t) => t.to === 'off');
      const ons = mine.filter((t) => t.to === 'on');
      const reachedPowerOff = o.steps.some((s) => s.name === 'power_off' && s.started_at !== null);
      let problem: string | null = null;
      if (o.status === 'completed') {
        if (offs.length !== 1 || ons.length !== 1 || ons[0]!.at < offs[0]!.at)
          problem = `completed with ${offs.length} power-off(s) and ${ons.length} power-on(s), expected exactly one cycle`;
      } else if (!reachedPowerOff) {
        if (cmds.length > 0) problem = `${o.status} before power_off, yet sent ${shown(cmds)}`;
      } else if (offs.length > 1) {
        problem = `${o.status} after ${offs.length} power-offs`;
      } else if (offs.length === 1 && (ons.length !== 1 || ons[0]!.at < offs[0]!.at)) {
        const off = offs[0]!;
        problem = `${o.status}: the machine went off at ${rel(off.at)} (${log[off.cause]!.action} sent ${rel(log[off.cause]!.at)}) and was not powered back on by the operation`;
      }
      if (problem) {
        add('power_cycle', `${m.hostname}: reboot ${o.id} (${String(o.params.method)}) ${problem}`, {
          operation_id: o.id,
          hostname: m.hostname,
          node_id: m.nodeId,
          method: o.params.method,
          status: o.status,
          window: `${rel(o.created_at)} … ${o.completed_at ? rel(o.completed_at) : 'end'}`,
          commands: shown(cmds),
          attributed_by: [...new Set(cmds.map(by))].join('+') || 'none',
          power_log: shownWithOps(log, rel),
          transitions: mine.map((t) => `${t.to}@${rel(t.at)}`).join(' '),
          shutdown_delay_ms: m.shutdown_delay_ms,
          steps: o.steps
            .filter((s) => s.status !== 'pending')
            .map((s) => `${s.name}:${s.status}`)
            .join(' '),
          error: o.error,
          last_logs: o.lastLogs,
        });
      }
    }

    if (m.power_state !== 'on' || m.shutting_down) {
      add('machines_on', `${m.hostname} is ${m.power_state}${m.shutting_down ? ' (shutting down)' : ''} at the end`, {
        hostname: m.hostname,
        node_id: m.nodeId,
        power_state: m.power_state,
        shutting_down: m.shutting_down,
        power_log: shownWithOps(log, rel),
        reboots: reboots.map((o) => ({
          operation_id: o.id,
          method: o.params.method,
          status: o.status,
          from: rel(o.created_at),
          to: o.completed_at ? rel(o.completed_at) : null,
          error: o.error,
        })),
      });
    }
  }
}

/** A power log as `action@+t(op_…)`, the operation that sent each command or `?` when none is named. */
function shownWithOps(log: PowerCommand[], rel: (t: number) => string): string {
  return log.map((c) => `${c.action}@${rel(c.at)}(${c.operationId ?? '?'})`).join(' ');
}
