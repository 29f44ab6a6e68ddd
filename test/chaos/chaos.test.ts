import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SHORT_SIZE, type ChaosSize } from '../../scripts/chaos/plan';
import { formatReport, runChaos } from '../../scripts/chaos/run';

/**
 * The fault-injection suite's short, seeded run (`npm run chaos` is the full one): Temporal, the
 * worker and the API as separate processes on their own PostgreSQL database, three clients sending
 * reboots, drains, reweights, upgrades, pools, cancels, pauses and resumes to two 5-node sandbox
 * clusters while the worker and the API are SIGKILLed; then every invariant is checked from the
 * outside. After that check, a noout is set on purpose: the same checker must name it.
 *
 * Size and seed: NF_CHAOS_SEED (default 8), NF_CHAOS_CLIENTS, NF_CHAOS_ACTIONS (per client),
 * NF_CHAOS_KILL_TEMPORAL (Temporal kills, default 0).
 */
const env = (name: string): number | undefined => (process.env[name] ? Number(process.env[name]) : undefined);
const seed = env('NF_CHAOS_SEED') ?? 8;
const size: ChaosSize = {
  ...SHORT_SIZE,
  clients: env('NF_CHAOS_CLIENTS') ?? SHORT_SIZE.clients,
  actionsPerClient: env('NF_CHAOS_ACTIONS') ?? SHORT_SIZE.actionsPerClient,
  kills: { ...SHORT_SIZE.kills, temporal: env('NF_CHAOS_KILL_TEMPORAL') ?? SHORT_SIZE.kills.temporal },
};

describe('chaos: a short seeded fault-injection run', () => {
  it(`seed ${seed}: every invariant holds after SIGKILLs of the worker and the API, and a noout left on purpose is caught`, async () => {
    const lines: string[] = [];
    const report = await runChaos({
      seed,
      size,
      speed: 0.1,
      retryBudgetMs: 60_000,
      quiesceMs: 150_000,
      break: 'noout',
      baseDatabaseUrl: process.env.DATABASE_URL!,
      temporalBin: process.env.NF_TEMPORAL_BIN ?? path.join(os.homedir(), '.cache/nodefoundry/bin/temporal'),
      log: (l) => lines.push(`${new Date().toISOString()} ${l}`),
    });
    const summary = formatReport({ ...report, violations: report.beforeBreak ?? [] });
    console.log(summary);
    const text = `${lines.join('\n')}\n${summary}`;
    expect(report.kills, text).toEqual(size.kills);
    expect(
      Object.values(report.sent).reduce((a, b) => a + b, 0),
      text,
    ).toBeGreaterThanOrEqual((size.clients * size.actionsPerClient) / 2);
    expect(
      Object.values(report.operations)
        .flatMap((by) => Object.values(by))
        .reduce((a, b) => a + b, 0),
      text,
    ).toBeGreaterThan(0);
    expect(report.beforeBreak, text).toEqual([]);
    expect([...new Set(report.violations.map((v) => v.invariant))], text).toEqual(['noout']);
  }, 230_000);
});
