/**
 * The chaos clients: HTTP with a sandbox key, every POST with an Idempotency-Key, retried with the
 * same key (and the same X-Request-ID, which the API stores on the operation it starts) when the
 * answer is lost: a connection error, a timeout, a 5xx, or 409 idempotency_in_progress. A 503
 * `service_unavailable` naming an `operation_id` is the API saying it cannot know the outcome (a
 * start Temporal did not confirm, or a pause/resume the workflow did not answer; docs/api.md
 * "Starting an operation: what a 503 means"): it is lost too, and the retry with the same key meets
 * the operation bound to it. Every attempt is recorded with its time, so the invariants can compare
 * answers with the dead periods.
 */
import type { Action } from './plan';
import type { ChaosWorld } from './setup';

export interface Attempt {
  at: number;
  ms: number;
  status: number | null;
  code: string | null;
  error: string | null;
  /** The `operation_id` an error answer named (a 503 with an unknown outcome names its operation). */
  operationId?: string | null;
  /** Which API process the attempt went to, when there are several (`--topology`: api-1, api-2). */
  target?: string;
}

/** An API process the clients send to: its process name (as in Downtime.instance) and its URL. */
export interface ApiTarget {
  name: string;
  url: string;
}

/**
 * The API's "outcome unknown" answer: 503 `service_unavailable` whose error body names the
 * operation (the start or the pause/resume may have taken effect; a retry with the same key meets it).
 */
export const isOutcomeUnknown = (a: Pick<Attempt, 'status' | 'code' | 'operationId'>): boolean =>
  a.status === 503 && a.code === 'service_unavailable' && typeof a.operationId === 'string' && a.operationId !== '';

export interface RequestRecord {
  /** The Idempotency-Key and X-Request-ID of every attempt. */
  rid: string;
  client: number;
  kind: string;
  method: string;
  path: string;
  body: unknown;
  attempts: Attempt[];
  /** The first definite answer (not lost, not in progress), or null when the budget ran out without one. */
  final: { status: number; code: string | null; operationId: string | null } | null;
  /** Operation ids named by 2xx answers (a replay must name the same one). */
  operationIds: string[];
}

export interface Accepted {
  operationId: string;
  kind: string;
  rid: string;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
export const isTerminal = (status: string | null | undefined): boolean => TERMINAL.has(status ?? '');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ChaosHttp {
  readonly records: RequestRecord[] = [];

  private readonly targets: ApiTarget[];
  private next = 0;

  constructor(
    /** One API URL, or several API processes: attempts go to them in turn, as a load balancer would. */
    base: string | ApiTarget[],
    private readonly key: string,
    /** How long one request is retried before its outcome is given up as unknown. */
    private readonly retryBudgetMs: number,
  ) {
    this.targets = typeof base === 'string' ? [{ name: 'api', url: base }] : base;
    if (this.targets.length === 0) throw new Error('ChaosHttp needs at least one API');
  }

  /** The API the next attempt goes to (round robin). */
  private pick(): ApiTarget {
    const t = this.targets[this.next % this.targets.length]!;
    this.next += 1;
    return t;
  }

  private async once(
    method: string,
    path: string,
    rid: string | null,
    body: unknown,
    headers: Record<string, string>,
    target: ApiTarget = this.pick(),
  ) {
    const h: Record<string, string> = { authorization: `Bearer ${this.key}`, ...headers };
    if (rid) {
      h['x-request-id'] = rid;
      if (method === 'POST') h['idempotency-key'] = rid;
    }
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(target.url + path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    let parsed: any = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    return { status: res.status, body: parsed };
  }

  /** One logical request, retried until it gets a definite answer or the budget runs out. */
  async send(
    client: number,
    kind: string,
    rid: string,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    /** 409 resource_busy answers to wait out (a refusal releases the key, so the same key is reused). */
    busyRetries = 0,
  ): Promise<RequestRecord> {
    const rec: RequestRecord = { rid, client, kind, method, path, body, attempts: [], final: null, operationIds: [] };
    this.records.push(rec);
    const deadline = Date.now() + this.retryBudgetMs;
    let busy = 0;
    for (let n = 0; ; n++) {
      const at = Date.now();
      let status: number | null = null;
      let code: string | null = null;
      let error: string | null = null;
      let data: any = null;
      let errorOp: string | null = null;
      const target = this.pick();
      try {
        const r = await this.once(method, path, rid, body, headers, target);
        status = r.status;
        code = r.body?.error?.code ?? null;
        errorOp = typeof r.body?.error?.operation_id === 'string' ? r.body.error.operation_id : null;
        data = r.body?.data ?? null;
      } catch (e) {
        error = (e as Error).cause
          ? String((e as { cause: { code?: string } }).cause.code ?? (e as Error).cause)
          : (e as Error).message;
      }
      const attempt: Attempt = { at, ms: Date.now() - at, status, code, error, operationId: errorOp };
      if (this.targets.length > 1) attempt.target = target.name;
      rec.attempts.push(attempt);
      const opId: string | null =
        data?.operation_id ?? (typeof data?.id === 'string' && data.id.startsWith('op_') ? data.id : null);
      if (status !== null && status >= 200 && status < 300 && opId && !rec.operationIds.includes(opId))
        rec.operationIds.push(opId);
      // An unknown outcome (503 naming the operation) is a lost answer: the same key is sent again
      // and is answered with the operation bound to it (or, for a pause/resume, applied again).
      const lost = status === null || status >= 500 || code === 'idempotency_in_progress' || isOutcomeUnknown(attempt);
      if (code === 'resource_busy' && busy < busyRetries) {
        busy += 1;
        await sleep(1_500 * busy);
        continue;
      }
      if (!lost) {
        rec.final = { status: status!, code, operationId: opId };
        return rec;
      }
      if (Date.now() > deadline) return rec;
      await sleep(Math.min(3_000, 200 * 2 ** Math.min(n, 4)));
    }
  }

  /** A read, retried through restarts (not recorded: reads change nothing). */
  async get(path: string, timeoutMs = 60_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const r = await this.once('GET', path, null, undefined, {});
        if (r.status === 200) return r.body?.data;
        if (r.status < 500) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      } catch (e) {
        if (Date.now() > deadline || String(e).includes(`GET ${path}`)) throw e;
      }
      if (Date.now() > deadline) throw new Error(`GET ${path}: no answer within ${timeoutMs} ms`);
      await sleep(500);
    }
  }
}

export interface ClientContext {
  http: ChaosHttp;
  world: ChaosWorld;
  seed: number;
  /** Operations accepted so far, by every client, in the order their 202 arrived. */
  accepted: Accepted[];
  /** Stops the client early (the run is aborting). */
  stopped: () => boolean;
}

/** The HTTP request an action makes, or null when it has no target (a pause before any upgrade). */
function requestOf(
  a: Action,
  ctx: ClientContext,
): { method: string; path: string; body?: unknown; headers?: Record<string, string> } | null {
  const cluster = 'cluster' in a ? ctx.world.clusters[a.cluster]! : null;
  switch (a.kind) {
    case 'reboot':
      return {
        method: 'POST',
        path: `/v1/nodes/${cluster!.nodes[a.host]!.id}/reboot`,
        body: { method: a.method, drain_osds: true },
      };
    case 'reweight':
      return { method: 'POST', path: `/v1/clusters/${cluster!.id}/osds/${a.osd}/reweight`, body: { weight: a.weight } };
    case 'upgrade':
      return {
        method: 'POST',
        path: `/v1/clusters/${cluster!.id}/upgrade`,
        body: { mode: a.mode, max_concurrent: a.maxConcurrent },
      };
    case 'pool_create':
      return {
        method: 'POST',
        path: `/v1/clusters/${cluster!.id}/pools`,
        body:
          a.type === 'replicated'
            ? { name: a.pool, type: a.type, pg_autoscale: a.autoscale }
            : { name: a.pool, type: a.type, erasure_profile: 'k2m1', pg_autoscale: a.autoscale },
      };
    case 'pool_delete':
      return {
        method: 'DELETE',
        path: `/v1/clusters/${cluster!.id}/pools/${a.pool}`,
        headers: { 'x-confirm-delete': 'true' },
      };
    default: {
      const candidates = a.kind === 'cancel' ? ctx.accepted : ctx.accepted.filter((o) => o.kind === 'upgrade');
      if (candidates.length === 0) return null;
      return {
        method: 'POST',
        path: `/v1/operations/${candidates[a.pick % candidates.length]!.operationId}/${a.kind}`,
      };
    }
  }
}

export interface ClientStats {
  /** Logical requests sent, by action kind (follow-ups included under their own kind). */
  sent: Record<string, number>;
  /** Final answers by status ("unknown" when none), by kind. */
  answers: Record<string, Record<string, number>>;
}

function count(stats: ClientStats, rec: RequestRecord): void {
  stats.sent[rec.kind] = (stats.sent[rec.kind] ?? 0) + 1;
  const by = (stats.answers[rec.kind] ??= {});
  const k = rec.final ? `${rec.final.status}${rec.final.code ? ` ${rec.final.code}` : ''}` : 'unknown';
  by[k] = (by[k] ?? 0) + 1;
}

/** A client told "busy" tries the same request again a little later, up to this many times. */
const BUSY_RETRIES = 2;

/** Runs one client's actions in order; follow-ups (cancel, pause, resume) go to the operation it just started. */
export async function runClient(
  client: number,
  actions: Action[],
  ctx: ClientContext,
  stats: ClientStats,
): Promise<void> {
  for (const [i, a] of actions.entries()) {
    if (ctx.stopped()) return;
    await sleep(a.thinkMs);
    const req = requestOf(a, ctx);
    if (!req) continue;
    const rid = `chaos-${ctx.seed}-c${client}-${i}`;
    const rec = await ctx.http.send(client, a.kind, rid, req.method, req.path, req.body, req.headers, BUSY_RETRIES);
    count(stats, rec);
    const opId = rec.final?.status === 202 ? rec.final.operationId : null;
    if (!opId || !['reboot', 'reweight', 'upgrade', 'pool_create', 'pool_delete'].includes(a.kind)) continue;
    ctx.accepted.push({ operationId: opId, kind: a.kind, rid });
    const f = a.followUps;
    const follow = async (what: 'cancel' | 'pause' | 'resume', afterMs: number) => {
      await sleep(afterMs);
      count(stats, await ctx.http.send(client, what, `${rid}-${what}`, 'POST', `/v1/operations/${opId}/${what}`));
    };
    if (f.cancelAfterMs !== null) await follow('cancel', f.cancelAfterMs);
    if (f.pauseAfterMs !== null) {
      await follow('pause', f.pauseAfterMs);
      if (f.resumeAfterMs !== null) await follow('resume', f.resumeAfterMs);
    }
  }
}
