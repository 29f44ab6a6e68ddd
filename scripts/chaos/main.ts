/**
 * `npm run chaos [-- options]`: the fault-injection run of issue 8. Exit code 0 when every invariant
 * held, 1 on any violation (each listed with its evidence), 2 on bad usage.
 *
 *   --seed N            the run's seed (default: random, printed); --seeds N runs N seeds in a row
 *   --short             the small size `npm test` uses (default: the full size)
 *   --clients N --actions N --kills worker=3,api=3,temporal=2 --kill-window-ms N   size
 *   --speed X           NF_SANDBOX_SPEED (default 0.1)
 *   --quiesce-ms N      bound on the wait for every operation to end (default 300000)
 *   --retry-budget-ms N how long a client retries a request whose answer is lost (default 330000:
 *                       past the API's 5-minute takeover of an abandoned Idempotency-Key)
 *   --break INVARIANT   break it on purpose after quiesce: the run must fail naming it
 *   --keep              keep the run's directory (process logs, Temporal's SQLite)
 *   --json FILE         also write the report(s) as JSON
 *   --topology          against the production topology (issue 14, docs/deployment.md): the Temporal
 *                       server itself on PostgreSQL (scripts/topology/up.sh --temporal-only), two
 *                       workers and two APIs, clients sending to both; kills default to worker=1,api=1
 *                       (one of the two each; Temporal is not killed)
 *
 * Needs DATABASE_URL (a PostgreSQL server it may create a database on) and the Temporal CLI
 * (NF_TEMPORAL_BIN, else the cached build of scripts/ensure-temporal.sh).
 */
import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { INVARIANTS, type Invariant } from './invariants';
import { FULL_SIZE, PROCESS_NAMES, SHORT_SIZE, type ChaosSize } from './plan';
import { formatReport, runChaos, type ChaosReport } from './run';

function usage(message: string): never {
  process.stderr.write(`chaos: ${message}\n`);
  process.exit(2);
}

function int(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) usage(`${name} must be a non-negative integer`);
  return Number(v);
}

async function main(): Promise<void> {
  // Ctrl-C: exit now; the 'exit' hook of the process supervisor SIGKILLs Temporal, the worker and the
  // API. The run's database (<name>_chaos_<pid>_<seed>) is left behind then: drop it by hand.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      seeds: { type: 'string' },
      short: { type: 'boolean' },
      clients: { type: 'string' },
      actions: { type: 'string' },
      kills: { type: 'string' },
      'kill-window-ms': { type: 'string' },
      speed: { type: 'string' },
      'quiesce-ms': { type: 'string' },
      'retry-budget-ms': { type: 'string' },
      break: { type: 'string' },
      keep: { type: 'boolean' },
      json: { type: 'string' },
      topology: { type: 'boolean' },
    },
  });
  const base = values.short ? SHORT_SIZE : FULL_SIZE;
  const topology = values.topology === true;
  const size: ChaosSize = {
    ...base,
    clients: int(values.clients, '--clients') ?? base.clients,
    actionsPerClient: int(values.actions, '--actions') ?? base.actionsPerClient,
    killWindowMs: int(values['kill-window-ms'], '--kill-window-ms') ?? base.killWindowMs,
    // --topology: one of the two workers and one of the two APIs; the Temporal server is left alone.
    kills: topology ? { worker: 1, api: 1, temporal: 0 } : { ...base.kills },
  };
  for (const part of values.kills ? values.kills.split(',') : []) {
    const [p, n] = part.split('=');
    if (!PROCESS_NAMES.includes(p as never) || int(n, '--kills') === undefined)
      usage('--kills is worker=N,api=N,temporal=N');
    size.kills[p as keyof ChaosSize['kills']] = Number(n);
  }
  if (topology && size.kills.temporal > 0) usage('--topology kills workers and APIs only: use --kills worker=N,api=N');
  if (values.break !== undefined && !INVARIANTS.includes(values.break as Invariant))
    usage(`--break takes one of ${INVARIANTS.join(', ')}`);
  const speed = values.speed === undefined ? 0.1 : Number(values.speed);
  if (!(speed > 0 && speed <= 10)) usage('--speed must be a number in (0, 10]');
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) usage('DATABASE_URL is not set (a PostgreSQL server the run may create a database on)');
  const temporalBin = process.env.NF_TEMPORAL_BIN ?? path.join(os.homedir(), '.cache/nodefoundry/bin/temporal');
  if (!topology && !existsSync(temporalBin))
    usage(`no Temporal CLI at ${temporalBin}: run scripts/ensure-temporal.sh or set NF_TEMPORAL_BIN`);

  const first = int(values.seed, '--seed') ?? Math.floor(Math.random() * 1_000_000);
  const count = int(values.seeds, '--seeds') ?? 1;
  const reports: ChaosReport[] = [];
  for (let i = 0; i < count; i++) {
    const report = await runChaos({
      seed: first + i,
      size,
      speed,
      retryBudgetMs: int(values['retry-budget-ms'], '--retry-budget-ms') ?? 330_000,
      quiesceMs: int(values['quiesce-ms'], '--quiesce-ms') ?? 300_000,
      baseDatabaseUrl: databaseUrl,
      temporalBin,
      keepDir: values.keep === true,
      topology,
      ...(values.break ? { break: values.break as Invariant } : {}),
    });
    reports.push(report);
    process.stdout.write(formatReport(report) + '\n');
  }
  if (values.json) writeFileSync(values.json, JSON.stringify(reports, null, 1));
  if (count > 1)
    process.stdout.write(`\n==> ${reports.filter((r) => r.violations.length === 0).length}/${count} seeds passed\n`);
  process.exit(reports.some((r) => r.violations.length > 0) ? 1 : 0);
}

main().catch((e: unknown) => {
  process.stderr.write(`chaos: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
