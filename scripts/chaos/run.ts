/**
 * One chaos run: a fresh database and world, the three processes, the clients and the kill schedule
 * from the plan, then quiesce (bounded), the evidence, the invariants, and a clean stop.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createDb } from '../../db/database';
import { REPO_ROOT } from '../lib/paths';
import { generateSecretKey, parseSecretKey } from '../../lib/config';
import { BREAKS } from './breaks';
import { ChaosHttp, isTerminal, runClient, type Accepted, type ClientStats } from './client';
import { collectEvidence } from './evidence';
import {
  checkInvariants,
  INVARIANT_TEXT,
  INVARIANTS,
  type Evidence,
  type Invariant,
  type Violation,
} from './invariants';
import { makePlan, type ChaosSize, type ProcessName } from './plan';
import { Processes } from './processes';
import { buildWorld, createDatabase } from './setup';

export interface ChaosOptions {
  seed: number;
  size: ChaosSize;
  /** NF_SANDBOX_SPEED: 0.1 = a reboot's boot takes 3 s, its ACPI shutdown 1 s. */
  speed: number;
  /** How long a client retries one request whose answer is lost. */
  retryBudgetMs: number;
  /** Bound on the wait for every operation to end after the last action. */
  quiesceMs: number;
  /** After quiesce, break this invariant on purpose (the run must then fail naming it). */
  break?: Invariant;
  baseDatabaseUrl: string;
  temporalBin: string;
  /** Keep the run's directory (process logs, Temporal's SQLite) even when it passes. */
  keepDir?: boolean;
  /**
   * Run against the production topology (issue 14): the Temporal server itself on PostgreSQL
   * (scripts/topology/up.sh --temporal-only), two workers and two APIs; clients send to both APIs
   * in turn; a worker or API kill hits one of the two. Temporal is not killed (its kills must be 0).
   */
  topology?: boolean;
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  size: ChaosSize;
  speed: number;
  durationMs: number;
  chaosMs: number;
  quiesceMs: number;
  quiesced: boolean;
  sent: Record<string, number>;
  answers: Record<string, Record<string, number>>;
  operations: Record<string, Record<string, number>>;
  kills: Record<ProcessName, number>;
  crashes: Record<ProcessName, number>;
  /** Attempts whose answer was lost: connection errors/timeouts, 5xx, 409 idempotency_in_progress. */
  lost: Record<string, number>;
  /** What the invariants judged (last check), for `--json`: re-check it with checkInvariants. */
  evidence: Evidence;
  /** What the run checked last: after the break when there was one. */
  violations: Violation[];
  /** With `break`: the violations before it was applied (should be none on a correct build). */
  beforeBreak: Violation[] | null;
  broke: string | null;
  dir: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * The settler in a chaos run (docs/operators.md "Settling"): operations whose workflow a kill left
 * closed or never started are what it is for, so it runs every 5 s, and takes an operation Temporal
 * does not know once it is 15 s old (the default 60 s + 60 s would outlast the 60 s answer bound
 * and much of the quiesce; 15 s leaves a start on this loaded machine time to reach Temporal).
 */
export const CHAOS_SETTLE_INTERVAL_MS = 5_000;
export const CHAOS_SETTLE_GRACE_MS = 15_000;

/** The application's environment (lib/config.ts) for the run's worker and API. */
export function chaosAppEnv(x: {
  databaseUrl: string;
  temporalPort: number;
  temporalUiPort: number;
  secret: string;
  speed: number;
}): Record<string, string> {
  return {
    DATABASE_URL: x.databaseUrl,
    TEMPORAL_ADDRESS: `127.0.0.1:${x.temporalPort}`,
    TEMPORAL_UI_URL: `http://127.0.0.1:${x.temporalUiPort}`,
    TEMPORAL_TASK_QUEUE: 'chaos',
    NF_SECRET_KEY: x.secret,
    NF_SANDBOX_SPEED: String(x.speed),
    NF_POLL_INTERVAL_MS: '100',
    NF_WAIT_POWER_MS: '60000',
    NF_WAIT_SSH_MS: '60000',
    NF_WAIT_CEPH_MS: '90000',
    NF_LOG_LEVEL: 'info',
    NF_SETTLE_INTERVAL_MS: String(CHAOS_SETTLE_INTERVAL_MS),
    NF_SETTLE_GRACE_MS: String(CHAOS_SETTLE_GRACE_MS),
  };
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? ((l: string) => process.stderr.write(`chaos: ${l}\n`));
  const t0 = Date.now();
  const plan = makePlan(o.seed, o.size);
  const dir = mkdtempSync(path.join(os.tmpdir(), `nodefoundry-chaos-${o.seed}-`));
  const dbName = `${new URL(o.baseDatabaseUrl).pathname.slice(1) || 'nodefoundry'}_chaos_${process.pid}_${o.seed}`;
  const database = await createDatabase(o.baseDatabaseUrl, dbName);
  const db = createDb(database.url, 4);
  const secret = generateSecretKey();
  const world = await buildWorld(db, parseSecretKey(secret), o.size, o.speed);
  const [temporalPort, temporalUiPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const topoDir = path.join(dir, 'topology');
  let topologyUp = false;
  let external: { address: string; uiUrl: string } | undefined;
  if (o.topology) {
    if (o.size.kills.temporal > 0)
      throw new Error('--topology: the Temporal server is not killed (use --kills worker=N,api=N)');
    log(`bringing up the topology's Temporal server on PostgreSQL (scripts/topology/up.sh ${topoDir} --temporal-only)`);
    topologyUp = true;
    external = await topologyTemporal(topoDir, o.baseDatabaseUrl, `${dbName}_t`, log);
  }
  const appEnv = chaosAppEnv({ databaseUrl: database.url, temporalPort, temporalUiPort, secret, speed: o.speed });
  if (external) Object.assign(appEnv, { TEMPORAL_ADDRESS: external.address, TEMPORAL_UI_URL: external.uiUrl });
  const procs = new Processes({
    dir,
    temporalBin: o.temporalBin,
    temporalPort,
    temporalUiPort,
    apiPort,
    log,
    env: appEnv,
    ...(external
      ? { externalTemporal: { address: external.address }, apiPorts: [apiPort, await freePort()], workers: 2 }
      : {}),
  });
  let report: ChaosReport | undefined;
  try {
    log(
      `seed ${o.seed}: ${o.size.clusters} clusters × ${o.size.hostsPerCluster} hosts, ${o.size.clients} clients × ${o.size.actionsPerClient} actions, kills ${JSON.stringify(o.size.kills)}, speed ${o.speed}; logs in ${dir}`,
    );
    await procs.startAll();
    const http = new ChaosHttp(o.topology ? procs.apiTargets : procs.apiUrl, world.key, o.retryBudgetMs);
    const stats: ClientStats = { sent: {}, answers: {} };
    const accepted: Accepted[] = [];
    const startedAt = Date.now();

    // ---- chaos: clients and kills side by side ----
    let clientsDone = false;
    const clients = Promise.all(
      plan.clients.map((actions, c) =>
        runClient(c, actions, { http, world, seed: o.seed, accepted, stopped: () => false }, stats),
      ),
    ).finally(() => (clientsDone = true));
    const killer = (async () => {
      for (const [i, k] of plan.kills.entries()) {
        await sleep(startedAt + k.atMs - Date.now());
        if (clientsDone) log(`kill of ${k.process} at +${k.atMs} ms runs after the clients finished`);
        // One of several (topology: worker-1/2, api-1/2), chosen from the seed.
        const all = k.process === 'temporal' ? ['temporal'] : procs.instances(k.process);
        const instance = all[(o.seed + i) % all.length]!;
        procs.kill(k.process, instance);
        await sleep(k.downMs);
        await procs.start(k.process, instance);
      }
    })();
    await Promise.all([clients, killer]);
    const chaosMs = Date.now() - startedAt;
    await procs.allUp(120_000); // a crashed one may be restarting
    log(`chaos phase over after ${(chaosMs / 1000).toFixed(1)} s: quiescing (bound ${o.quiesceMs / 1000} s)`);

    // ---- quiesce: paused upgrades resumed (twice at most, then cancelled), everything waited for ----
    const q0 = Date.now();
    const quiesced = await quiesce(http, db, world.accountId, o.quiesceMs, log);
    const quiesceMs = Date.now() - q0;
    // A soft power-off or a boot in flight settles within the machines' delays.
    await sleep(Math.round(30_000 * o.speed) + 1_000);

    const run = { startedAt, requests: http.records, downtimes: procs.downtimes };
    let evidence = await collectEvidence(db, http, world, run);
    let violations = checkInvariants(evidence);
    let beforeBreak: Violation[] | null = null;
    let broke: string | null = null;
    if (o.break) {
      const apply = BREAKS[o.break];
      if (!apply)
        throw new Error(`--break ${o.break}: no way to break it (breakable: ${Object.keys(BREAKS).join(', ')})`);
      broke = await apply(db, world);
      log(`broke ${o.break}: ${broke}`);
      beforeBreak = violations;
      evidence = await collectEvidence(db, http, world, run);
      violations = checkInvariants(evidence);
    }

    const operations: Record<string, Record<string, number>> = {};
    for (const r of await db
      .selectFrom('operations')
      .select(['type', 'status'])
      .where('account_id', '=', world.accountId)
      .execute()) {
      const by = (operations[r.type] ??= {});
      by[r.status] = (by[r.status] ?? 0) + 1;
    }
    report = {
      seed: o.seed,
      size: o.size,
      speed: o.speed,
      durationMs: Date.now() - t0,
      chaosMs,
      quiesceMs,
      quiesced,
      sent: stats.sent,
      answers: stats.answers,
      operations,
      kills: procs.kills,
      crashes: procs.crashes,
      lost: lostAnswers(http.records),
      evidence,
      violations,
      beforeBreak,
      broke,
      dir,
    };
    return report;
  } finally {
    await procs.stopAll().catch((e: unknown) => log(`stopping processes: ${String(e)}`));
    if (topologyUp) await topologyDown(topoDir, log);
    await db.destroy();
    await database.drop().catch((e: unknown) => log(`dropping ${dbName}: ${String(e)}`));
    const failed = !report || report.violations.length > 0;
    if (!o.keepDir && !(failed && !o.break)) rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs a topology script to its end, bounded; its output goes to the run's log. */
function runScript(args: string[], env: Record<string, string>, timeoutMs: number, log: (l: string) => void) {
  return new Promise<void>((resolve, reject) => {
    const child = spawn('bash', args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    for (const stream of [child.stdout, child.stderr])
      stream.on('data', (b: Buffer) =>
        b
          .toString()
          .split('\n')
          .filter(Boolean)
          .forEach((l) => log(`  ${l}`)),
      );
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${args.join(' ')} exited with ${code}`));
    });
  });
}

/**
 * `--topology`: the Temporal server on PostgreSQL (databases <prefix>_temporal[_visibility], fresh),
 * its UI, the namespace and search attributes. 30 min bound: a first run builds the server.
 */
async function topologyTemporal(
  dir: string,
  baseDatabaseUrl: string,
  prefix: string,
  log: (l: string) => void,
): Promise<{ address: string; uiUrl: string }> {
  await runScript(
    ['scripts/topology/up.sh', dir, '--temporal-only'],
    { DATABASE_URL: baseDatabaseUrl, NF_TOPO_PREFIX: prefix },
    1_800_000,
    log,
  );
  const env = Object.fromEntries(
    readFileSync(path.join(dir, 'env'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).replace(/^'(.*)'$/, '$1')]),
  );
  if (!env.TEMPORAL_ADDRESS) throw new Error(`${dir}/env names no TEMPORAL_ADDRESS`);
  return { address: env.TEMPORAL_ADDRESS, uiUrl: env.TEMPORAL_UI_URL ?? '' };
}

async function topologyDown(dir: string, log: (l: string) => void): Promise<void> {
  await runScript(['scripts/topology/down.sh', dir], {}, 180_000, log).catch((e: unknown) =>
    log(`stopping the topology: ${String(e)}`),
  );
}

async function quiesce(
  http: ChaosHttp,
  db: ReturnType<typeof createDb>,
  accountId: string,
  boundMs: number,
  log: (l: string) => void,
): Promise<boolean> {
  const deadline = Date.now() + boundMs;
  const resumes = new Map<string, number>();
  let n = 0;
  for (;;) {
    const open = await db
      .selectFrom('operations')
      .select(['id', 'status'])
      .where('account_id', '=', accountId)
      .where('status', 'not in', ['completed', 'failed', 'cancelled'])
      .execute();
    const stillOpen: string[] = [];
    for (const row of open) {
      const view = await http.get(`/v1/operations/${row.id}`).catch(() => null);
      if (view && isTerminal(view.status) && isTerminal(row.status)) continue;
      stillOpen.push(`${row.id}:${view?.status ?? row.status}`);
      if (view?.status === 'paused') {
        // An operator resumes a paused upgrade, and cancels it when it keeps pausing.
        const k = resumes.get(row.id) ?? 0;
        resumes.set(row.id, k + 1);
        const what = k < 2 ? 'resume' : 'cancel';
        await http.send(
          -1,
          `quiesce_${what}`,
          `chaos-quiesce-${row.id}-${what}-${k}`,
          'POST',
          `/v1/operations/${row.id}/${what}`,
        );
      }
    }
    if (stillOpen.length === 0) return true;
    if (Date.now() > deadline) {
      log(`quiesce bound reached with ${stillOpen.length} operation(s) open: ${stillOpen.join(', ')}`);
      return false;
    }
    if (n++ % 10 === 0)
      log(
        `waiting for ${stillOpen.length} operation(s): ${stillOpen.slice(0, 6).join(', ')}${stillOpen.length > 6 ? ', …' : ''}`,
      );
    await sleep(1_000);
  }
}

function lostAnswers(records: ChaosHttp['records']): Record<string, number> {
  const lost: Record<string, number> = {};
  for (const a of records.flatMap((r) => r.attempts)) {
    const k =
      a.status === null
        ? `no answer (${a.error})`
        : a.status >= 500
          ? `${a.status} ${a.code ?? ''}`.trim()
          : a.code === 'idempotency_in_progress'
            ? '409 idempotency_in_progress'
            : null;
    if (k) lost[k] = (lost[k] ?? 0) + 1;
  }
  return lost;
}

export function formatReport(r: ChaosReport): string {
  const lines: string[] = [];
  const kv = (o: Record<string, unknown>) =>
    Object.entries(o)
      .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join(', ');
  lines.push(
    '',
    `==> chaos seed ${r.seed}: ${r.violations.length === 0 ? 'PASS' : `FAIL (${r.violations.length} violation${r.violations.length === 1 ? '' : 's'})`}`,
  );
  lines.push(
    `    duration ${(r.durationMs / 1000).toFixed(1)} s (chaos ${(r.chaosMs / 1000).toFixed(1)} s, quiesce ${(r.quiesceMs / 1000).toFixed(1)} s${r.quiesced ? '' : ', bound reached'}), speed ${r.speed}`,
  );
  lines.push(`    requests sent: ${kv(r.sent)} (total ${Object.values(r.sent).reduce((a, b) => a + b, 0)})`);
  lines.push(`    answers: ${kv(r.answers)}`);
  lines.push(`    lost answers (retried with the same key): ${Object.keys(r.lost).length ? kv(r.lost) : 'none'}`);
  lines.push(`    operations: ${kv(r.operations)}`);
  lines.push(`    kills: ${kv(r.kills)}; crashes (exited on their own): ${kv(r.crashes)}`);
  if (r.broke) lines.push(`    deliberately broken: ${r.broke}; before that: ${r.beforeBreak!.length} violation(s)`);
  const failed = new Set(r.violations.map((v) => v.invariant));
  for (const inv of INVARIANTS)
    lines.push(`    ${failed.has(inv) ? 'FAIL' : 'ok  '} ${inv.padEnd(14)} ${INVARIANT_TEXT[inv]}`);
  for (const v of r.violations) {
    lines.push(`  - [${v.invariant}] ${v.message}`);
    lines.push(`      ${JSON.stringify(v.evidence)}`);
  }
  if (r.violations.length > 0 && !r.broke) lines.push(`    process logs: ${r.dir}`);
  return lines.join('\n');
}
