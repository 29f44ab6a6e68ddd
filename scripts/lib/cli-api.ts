/**
 * The admin CLI's API commands (`nodefoundry nodes|clusters|operations …`): clients of the HTTP API
 * over the typed client generated from its OpenAPI document (lib/client), so a command that no longer
 * fits the document fails the type check. Base URL from --url or NF_API_URL, key from --key or
 * NF_API_KEY. stdout carries the result (a table, `--json`: the API's JSON as it answered); errors
 * go to stderr as `nodefoundry: CODE: message`, exit code 1.
 *
 * `operations watch` draws, on a terminal, a progress bar, the step list and a log tail redrawn in
 * place with log-update; on a pipe or a file it prints one plain line per change instead.
 */
import { createApiClient, isApiError, type ApiClient, type Schema } from '../../lib/client';
import { CliError, parse, table, UsageError, type Io, type Options, type Values } from './cli-common';

export const DEFAULT_API_URL = 'http://127.0.0.1:8080';

export const API_USAGE = `
API (over HTTP: --url URL or NF_API_URL, default ${DEFAULT_API_URL}; --key KEY or NF_API_KEY;
--json prints the API's JSON instead of a table):
  nodes list [--cluster ID] [--status STATUS] [--page N] [--per-page N]
  nodes get NODE_ID
  clusters list [--status STATUS] [--page N] [--per-page N]
  clusters get CLUSTER_ID
  operations list [--cluster ID] [--node ID] [--status STATUS] [--type TYPE] [--request-id ID]
                  [--page N] [--per-page N]
  operations get OP_ID           progress, steps and the latest log lines
  operations watch OP_ID [--interval SECONDS] [--logs N] [--timeout SECONDS]
                                 follow it until it ends: a live progress bar, the steps and a log
                                 tail on a terminal, one line per change otherwise; Ctrl-C stops
                                 watching (the operation goes on)
  operations cancel OP_ID
  operations pause OP_ID [--reason TEXT]
  operations resume OP_ID
`;

type Operation = Schema<'Operation'>;
type Node = Schema<'Node'>;
type Cluster = Schema<'Cluster'>;

const CONNECTION: Options = { url: { type: 'string' }, key: { type: 'string' }, json: { type: 'boolean' } };
const PAGING: Options = { page: { type: 'string' }, 'per-page': { type: 'string' } };
const REQUEST_TIMEOUT_MS = 30_000;
const TERMINAL = new Set<string>(['completed', 'failed', 'cancelled']);

interface Conn {
  api: ApiClient;
  baseUrl: string;
  json: boolean;
}

function connect(values: Values): Conn {
  const baseUrl = (typeof values.url === 'string' ? values.url : process.env.NF_API_URL || DEFAULT_API_URL).replace(
    /\/+$/,
    '',
  );
  let parsed: URL;
  try {
    parsed = new URL(baseUrl);
  } catch {
    throw new UsageError(`the API URL ${JSON.stringify(baseUrl)} is not a URL (e.g. ${DEFAULT_API_URL})`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new UsageError(`the API URL must be http:// or https:// (got ${baseUrl})`);
  const key = typeof values.key === 'string' ? values.key : process.env.NF_API_KEY;
  if (!key) {
    throw new UsageError(
      'no API key: set NF_API_KEY or pass --key (create one with `npx nodefoundry keys create --account NAME --kind test`)',
    );
  }
  // Every request is bounded: an API that accepts the connection and never answers is an error.
  const bounded: typeof fetch = (input, init) =>
    fetch(input, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  return { api: createApiClient({ baseUrl, key, fetch: bounded }), baseUrl, json: values.json === true };
}

/**
 * The answer's body, or a CliError saying what went wrong: the API's error code and message (and
 * the field or the operation it names), or why the API could not be reached.
 */
async function call<T>(
  conn: Conn,
  request: Promise<{ data?: T; error?: unknown; response: Response }>,
  io: Io,
): Promise<T> {
  let r: { data?: T; error?: unknown; response: Response };
  try {
    r = await request;
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(
      `cannot reach the API at ${conn.baseUrl} (${cause?.code ?? cause?.message ?? (e as Error).message}); set NF_API_URL or --url`,
    );
  }
  if (r.response.ok && r.data !== undefined) return r.data;
  if (isApiError(r.error)) {
    if (conn.json) io.out(JSON.stringify(r.error, null, 2));
    const e = r.error.error as { code: string; message: string; field?: string; operation_id?: string };
    const extra = [e.field ? `field ${e.field}` : '', e.operation_id ? `operation ${e.operation_id}` : '']
      .filter(Boolean)
      .join(', ');
    throw new CliError(`${e.code}: ${e.message}${extra ? ` (${extra})` : ''}`);
  }
  throw new CliError(`the API at ${conn.baseUrl} answered HTTP ${r.response.status} without an error body`);
}

function intOption(values: Values, name: string): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number`);
  return Number(v);
}

function secondsOption(values: Values, name: string, fallback: number | undefined): number | undefined {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  if (!(n > 0)) throw new UsageError(`--${name} must be a positive number of seconds`);
  return n;
}

function str(values: Values, name: string): string | undefined {
  return typeof values[name] === 'string' ? (values[name] as string) : undefined;
}

/** Query parameters that were given (the API validates them and says what is wrong). */
function query(entries: Record<string, string | number | undefined>): Record<string, any> {
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined));
}

function paging(values: Values): { page?: number; per_page?: number } {
  return query({ page: intOption(values, 'page'), per_page: intOption(values, 'per-page') });
}

function printJson(io: Io, body: unknown): void {
  io.out(JSON.stringify(body, null, 2));
}

function pageFooter(io: Io, meta: { page: number; per_page: number; total: number }, shown: number): void {
  const pages = Math.max(1, Math.ceil(meta.total / meta.per_page));
  if (pages > 1 || shown === 0)
    io.err(`page ${meta.page} of ${pages} (${meta.total} in all; --page N, --per-page N up to 100)`);
}

const dash = (v: string | number | null | undefined): string => (v === null || v === undefined ? '-' : String(v));
/** `2026-12-05T09:00:04.123Z` → `2026-12-05 09:00:04` (UTC, as the API gives it). */
const when = (iso: string | null | undefined): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '') : '-');
/** `09:00:04`. */
const clock = (iso: string | null | undefined): string => (iso ? (iso.split('T')[1] ?? iso).slice(0, 8) : '--:--:--');

/** Every field, one a line: scalars as they are, objects and arrays as compact JSON. */
function details(io: Io, resource: Record<string, unknown>): void {
  const width = Math.max(...Object.keys(resource).map((k) => k.length));
  for (const [k, v] of Object.entries(resource)) {
    const shown = v === null ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    io.out(`${`${k}:`.padEnd(width + 1)}  ${shown}`);
  }
}

// ---------------------------------------------------------------------------------------- nodes

async function nodesList(args: string[], io: Io): Promise<void> {
  const { values } = parse(
    args,
    { ...CONNECTION, ...PAGING, cluster: { type: 'string' }, status: { type: 'string' } },
    0,
  );
  const conn = connect(values);
  const body = await call(
    conn,
    conn.api.GET('/v1/nodes', {
      params: {
        query: { ...paging(values), ...query({ cluster_id: str(values, 'cluster'), status: str(values, 'status') }) },
      },
    }),
    io,
  );
  if (conn.json) return printJson(io, body);
  table(
    io,
    ['ID', 'HOSTNAME', 'STATUS', 'STATE', 'HELD', 'CLUSTER', 'IP', 'OPERATION'],
    body.data.map((n: Node) => [
      n.id,
      n.hostname,
      n.status,
      dash(n.state),
      n.held ? 'held' : '-',
      dash(n.cluster_id),
      dash(n.ip_address),
      dash(n.current_operation_id),
    ]),
  );
  pageFooter(io, body.meta, body.data.length);
}

async function nodesGet(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(args, CONNECTION, 1);
  const conn = connect(values);
  const body = await call(conn, conn.api.GET('/v1/nodes/{id}', { params: { path: { id: positionals[0]! } } }), io);
  if (conn.json) return printJson(io, body);
  details(io, body.data as unknown as Record<string, unknown>);
}

// ------------------------------------------------------------------------------------- clusters

async function clustersList(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, { ...CONNECTION, ...PAGING, status: { type: 'string' } }, 0);
  const conn = connect(values);
  const body = await call(
    conn,
    conn.api.GET('/v1/clusters', {
      params: { query: { ...paging(values), ...query({ status: str(values, 'status') }) } },
    }),
    io,
  );
  if (conn.json) return printJson(io, body);
  table(
    io,
    ['ID', 'NAME', 'STATUS', 'CEPH', 'NODES', 'OSDS', 'USED/RAW TiB', 'OPERATION'],
    body.data.map((c: Cluster) => [
      c.id,
      c.name,
      c.status,
      c.ceph_version,
      String(c.node_count),
      String(c.osd_count),
      `${dash(c.used_capacity_tib)}/${c.raw_capacity_tib}`,
      dash(c.current_operation_id),
    ]),
  );
  pageFooter(io, body.meta, body.data.length);
}

async function clustersGet(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(args, CONNECTION, 1);
  const conn = connect(values);
  const body = await call(conn, conn.api.GET('/v1/clusters/{id}', { params: { path: { id: positionals[0]! } } }), io);
  if (conn.json) return printJson(io, body);
  details(io, body.data as unknown as Record<string, unknown>);
}

// ----------------------------------------------------------------------------------- operations

const subject = (op: Operation): string =>
  [
    op.cluster_id ? `cluster ${op.cluster_id}` : '',
    op.node_id ? `node ${op.node_id}` : '',
    op.osd_id !== null ? `osd.${op.osd_id}` : '',
  ]
    .filter(Boolean)
    .join(', ') || '-';

async function operationsList(args: string[], io: Io): Promise<void> {
  const { values } = parse(
    args,
    {
      ...CONNECTION,
      ...PAGING,
      cluster: { type: 'string' },
      node: { type: 'string' },
      status: { type: 'string' },
      type: { type: 'string' },
      'request-id': { type: 'string' },
    },
    0,
  );
  const conn = connect(values);
  const body = await call(
    conn,
    conn.api.GET('/v1/operations', {
      params: {
        query: {
          ...paging(values),
          ...query({
            cluster_id: str(values, 'cluster'),
            node_id: str(values, 'node'),
            status: str(values, 'status'),
            type: str(values, 'type'),
            request_id: str(values, 'request-id'),
          }),
        },
      },
    }),
    io,
  );
  if (conn.json) return printJson(io, body);
  table(
    io,
    ['ID', 'TYPE', 'STATUS', 'PROGRESS', 'ON', 'CREATED_AT'],
    body.data.map((o: Operation) => [o.id, o.type, o.status, `${o.progress}%`, subject(o), when(o.created_at)]),
  );
  pageFooter(io, body.meta, body.data.length);
}

const BAR_WIDTH = 30;

/** `[██████████░░░░░░░░░░]  42%` */
export function progressBar(percent: number, width = BAR_WIDTH): string {
  const p = Math.max(0, Math.min(100, Math.round(percent)));
  const filled = Math.round((p / 100) * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${String(p).padStart(3)}%`;
}

const STEP_MARK: Record<string, string> = {
  completed: '✔',
  in_progress: '▶',
  pending: '·',
  failed: '✖',
  skipped: '-',
  cancelled: '✖',
};

/** At most `max` step lines: the finished ones before the current step collapse into one line. */
function stepLines(steps: Operation['steps'], max = 12): string[] {
  const line = (s: Operation['steps'][number]): string => {
    const times =
      s.started_at && s.finished_at
        ? `${clock(s.started_at)} → ${clock(s.finished_at)}`
        : s.started_at
          ? `${clock(s.started_at)} →`
          : '';
    return `  ${STEP_MARK[s.status] ?? '?'} ${s.name.padEnd(28)} ${s.status.padEnd(11)} ${times}`.trimEnd();
  };
  if (steps.length <= max) return steps.map(line);
  const current = Math.max(
    0,
    steps.findIndex((s) => s.status === 'in_progress' || s.status === 'pending' || s.status === 'failed'),
  );
  const start = Math.min(Math.max(0, current - 2), steps.length - (max - 2));
  const shown = steps.slice(start, start + max - 2).map(line);
  const before = start;
  const after = steps.length - start - (max - 2);
  return [
    ...(before > 0 ? [`  … ${before} earlier step${before === 1 ? '' : 's'}`] : []),
    ...shown,
    ...(after > 0 ? [`  … ${after} more step${after === 1 ? '' : 's'}`] : []),
  ];
}

/** `in 40 s`, `in 3 min`, `any moment`. */
function remaining(iso: string, now = Date.now()): string {
  const s = Math.round((Date.parse(iso) - now) / 1000);
  if (s <= 0) return 'any moment';
  return s < 90 ? `in ${s} s` : `in ${Math.round(s / 60)} min`;
}

/** The operation as a block of lines: what `get` prints, and each frame `watch` draws. */
export function operationFrame(op: Operation, logLines: number, columns = 120): string[] {
  const eta =
    op.status === 'in_progress' && op.estimated_completion
      ? `  eta ${clock(op.estimated_completion)} UTC (${remaining(op.estimated_completion)})`
      : '';
  const lines = [
    `${op.id}  ${op.type}  on ${subject(op)}`,
    `${progressBar(op.progress)}  ${op.status}${op.current_step ? `  step ${op.current_step}` : ''}${eta}`,
  ];
  if (op.cancel_requested_at && !TERMINAL.has(op.status))
    lines.push(`cancel requested at ${when(op.cancel_requested_at)} UTC`);
  if (op.error) lines.push(`${op.status === 'paused' ? 'paused' : 'error'}: ${op.error.code}: ${op.error.message}`);
  if (op.steps.length) lines.push('steps:', ...stepLines(op.steps));
  const tail = op.logs.slice(-logLines);
  if (tail.length) {
    lines.push(`log (last ${tail.length} of ${op.logs.length}):`);
    for (const l of tail) lines.push(`  ${clock(l.timestamp)} ${l.message}`);
  }
  // A line wider than the terminal wraps and breaks the redraw: cut it.
  return lines.map((l) => (l.length > columns ? `${l.slice(0, Math.max(1, columns - 1))}…` : l));
}

async function getOperation(conn: Conn, id: string, io: Io): Promise<{ data: Operation }> {
  return call(conn, conn.api.GET('/v1/operations/{id}', { params: { path: { id } } }), io);
}

async function operationsGet(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(args, { ...CONNECTION, logs: { type: 'string' } }, 1);
  const conn = connect(values);
  const body = await getOperation(conn, positionals[0]!, io);
  if (conn.json) return printJson(io, body);
  for (const line of operationFrame(body.data, intOption(values, 'logs') ?? 10, Number.MAX_SAFE_INTEGER)) io.out(line);
  io.out(`temporal: ${body.data.temporal.ui_url}`);
}

function ended(op: Operation): string {
  const took =
    op.started_at && op.completed_at
      ? ` in ${Math.round((Date.parse(op.completed_at) - Date.parse(op.started_at)) / 1000)} s`
      : '';
  return `${op.id} ${op.status}${took}${op.error ? `: ${op.error.code}: ${op.error.message}` : ''}`;
}

/** The frame as plain lines: what changed since the last poll (for pipes, files and CI logs). */
class PlainWatcher {
  private status = '';
  private progress = -1;
  private step: string | null | undefined = undefined;
  private steps = new Map<string, string>();
  private logsSeen = 0;
  constructor(private readonly io: Io) {}

  show(op: Operation): void {
    if (this.status === '') this.io.out(`${op.id}  ${op.type}  on ${subject(op)}`);
    if (op.status !== this.status || op.progress !== this.progress || op.current_step !== this.step) {
      this.io.out(
        `${clock(new Date().toISOString())} ${op.status} ${op.progress}%${op.current_step ? ` step ${op.current_step}` : ''}`,
      );
      this.status = op.status;
      this.progress = op.progress;
      this.step = op.current_step;
    }
    for (const s of op.steps) {
      if (this.steps.get(s.name) !== s.status) {
        if (s.status !== 'pending' || this.steps.has(s.name)) this.io.out(`  step ${s.name}: ${s.status}`);
        this.steps.set(s.name, s.status);
      }
    }
    // The API returns the operation's whole log (newest last); print what was not printed yet.
    const fresh = op.logs.length >= this.logsSeen ? op.logs.slice(this.logsSeen) : op.logs;
    for (const l of fresh) this.io.out(`  ${clock(l.timestamp)} ${l.message}`);
    this.logsSeen = op.logs.length;
  }
}

async function operationsWatch(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    args,
    { ...CONNECTION, interval: { type: 'string' }, logs: { type: 'string' }, timeout: { type: 'string' } },
    1,
  );
  const conn = connect(values);
  const id = positionals[0]!;
  const intervalMs = secondsOption(values, 'interval', 1)! * 1000;
  const timeoutS = secondsOption(values, 'timeout', undefined);
  const deadline = timeoutS === undefined ? Infinity : Date.now() + timeoutS * 1000;
  const logLines = intOption(values, 'logs') ?? 8;
  const live = io.tty === true && !conn.json && io.stream !== undefined;

  if (!live) {
    // Pipes, files, CI logs, --json: plain lines of what changed (none with --json: only the end).
    const plain = new PlainWatcher(io);
    return watchLoop(
      conn,
      id,
      io,
      intervalMs,
      deadline,
      (op) => conn.json || plain.show(op),
      () => {},
    );
  }
  // log-update redraws a block of lines in place (erasing what it drew before; the cursor hidden
  // meanwhile and shown again on exit). An ES module: loaded only when drawing.
  const { createLogUpdate } = await import('log-update');
  const draw = createLogUpdate(io.stream!, { showCursor: false });
  const columns = (): number => io.stream?.columns || 120;
  return watchLoop(
    conn,
    id,
    io,
    intervalMs,
    deadline,
    (op) => draw(operationFrame(op, logLines, columns()).join('\n')),
    () => draw.done(),
  );
}

async function watchLoop(
  conn: Conn,
  id: string,
  io: Io,
  intervalMs: number,
  deadline: number,
  show: (op: Operation) => unknown,
  finish: () => void,
): Promise<number> {
  let interrupted = false;
  let wake: (() => void) | undefined;
  const onSigint = (): void => {
    interrupted = true;
    wake?.();
  };
  process.once('SIGINT', onSigint);
  // Transient trouble (the API restarting, a 503, a rate limit) is retried; this many in a row is not.
  const MAX_FAILURES = 10;
  let failures = 0;
  let seen = false;
  try {
    for (;;) {
      let op: Operation | undefined;
      try {
        op = (await getOperation(conn, id, { ...io, out: conn.json ? () => {} : io.out })).data;
        failures = 0;
        seen = true;
      } catch (e) {
        const message = (e as Error).message;
        // A 4xx other than a rate limit will not get better; nor will a first poll that fails.
        if (!seen || !/^(rate_limited|service_unavailable|internal_error):|cannot reach the API/.test(message)) throw e;
        failures += 1;
        if (failures >= MAX_FAILURES) throw new CliError(`${message} (${MAX_FAILURES} polls in a row failed)`);
        io.err(`nodefoundry: ${message}; retrying`);
      }
      if (op) {
        show(op);
        if (TERMINAL.has(op.status)) {
          finish();
          if (conn.json) printJson(io, { data: op });
          else io.out(ended(op));
          return op.status === 'completed' ? 0 : 1;
        }
      }
      if (Date.now() >= deadline) {
        finish();
        throw new CliError(`${id} has not ended after --timeout; it goes on (watch again, or cancel it)`);
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now())));
      });
      if (interrupted) {
        finish();
        io.err(`stopped watching ${id}; it goes on (\`nodefoundry operations cancel ${id}\` cancels it)`);
        return 130;
      }
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

async function operationsCancel(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(args, CONNECTION, 1);
  const conn = connect(values);
  const body = await call(
    conn,
    conn.api.POST('/v1/operations/{id}/cancel', { params: { path: { id: positionals[0]! } } }),
    io,
  );
  if (conn.json) return printJson(io, body);
  io.out(`cancel requested for ${body.data.id} (${body.data.status}); its compensation runs before it ends`);
  io.err(`follow it with \`nodefoundry operations watch ${body.data.id}\``);
}

async function operationsPause(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(args, { ...CONNECTION, reason: { type: 'string' } }, 1);
  const conn = connect(values);
  const reason = str(values, 'reason');
  const body = await call(
    conn,
    conn.api.POST('/v1/operations/{id}/pause', {
      params: { path: { id: positionals[0]! } },
      body: reason === undefined ? {} : { reason },
    }),
    io,
  );
  if (conn.json) return printJson(io, body);
  io.out(`${body.data.id} ${body.data.status}${body.data.error ? `: ${body.data.error.message}` : ''}`);
  io.err('hosts in flight finish; no new one starts until `nodefoundry operations resume`');
}

async function operationsResume(args: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(args, CONNECTION, 1);
  const conn = connect(values);
  const body = await call(
    conn,
    conn.api.POST('/v1/operations/{id}/resume', { params: { path: { id: positionals[0]! } } }),
    io,
  );
  if (conn.json) return printJson(io, body);
  io.out(`${body.data.id} ${body.data.status}`);
}

export const API_COMMANDS: Record<string, (args: string[], io: Io) => Promise<number | void>> = {
  'nodes list': nodesList,
  'nodes get': nodesGet,
  'clusters list': clustersList,
  'clusters get': clustersGet,
  'operations list': operationsList,
  'operations get': operationsGet,
  'operations watch': operationsWatch,
  'operations cancel': operationsCancel,
  'operations pause': operationsPause,
  'operations resume': operationsResume,
};
