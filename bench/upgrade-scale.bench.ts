import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { upgradeAtScale, useScaleRig, type ScaleUpgrade } from '../test/workflows/upgrade-fixtures';
import { startBaselineWorker, type BaselineWorker } from './baseline/worker';
import { recordRow } from './table';
import { profileUpgrade, type UpgradeProfile } from './upgrade-profile';

/**
 * Rows 1 and 2 of issue 14's table: a rolling upgrade at instant sandbox speed, so that what is
 * timed is the control plane's own overhead (workflows, activities, PostgreSQL, the simulator).
 *
 * Row 1 (Pawsey's size: 180 hosts, 4,320 OSDs, max_concurrent 16) is compared with a bare workflow
 * of the same shape run in the same process on the same Temporal server (bench/baseline/): one child
 * per host running as many no-op activities as the real upgrade's children ran (counted from their
 * histories), in the batches the real upgrade formed, with the parent's gates before each batch.
 * Row 2 (1,000 hosts) must complete, keep every history (each parent run, each child) under
 * 10,000 events, and keep the worker's memory bounded.
 *
 * Behaviour (each host once, never more down than allowed, continue-as-new) is tested in
 * test/workflows/upgrade-scale.test.ts; here only speed and size are asserted.
 */
const num = (name: string, fallback: number) => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(v)}`);
  return n;
};

/** ≤ this × the baseline's time per host. */
const RATIO_GOAL = num('BENCH_UPGRADE_RATIO_MAX', 1.5);
/** Row 2's history and memory bounds. */
const MAX_EVENTS = num('BENCH_UPGRADE_MAX_EVENTS', 10_000);
const MAX_RSS_MB = num('BENCH_UPGRADE_1000_MAX_RSS_MB', 1_500);

/**
 * 180 hosts × 24 OSDs in racks of 16, replicated 3 across racks (min_size 2): ok-to-stop lets one
 * rack — 16 hosts — stop at once, so max_concurrent 16 is what bounds the batches (a mon host per
 * batch at most shifts them a little).
 */
const ROW1: ScaleUpgrade = {
  hosts: num('BENCH_UPGRADE_ROW1_HOSTS', 180),
  osdsPerHost: num('BENCH_UPGRADE_ROW1_OSDS_PER_HOST', 24),
  maxConcurrent: 16,
  replication: 3,
  minSize: 2,
  rackSize: 16,
  uniformDrives: true,
};
const ROW2: ScaleUpgrade = {
  ...ROW1,
  hosts: num('BENCH_UPGRADE_ROW2_HOSTS', 1_000),
  osdsPerHost: num('BENCH_UPGRADE_ROW2_OSDS_PER_HOST', 1),
};

/** The gates a batch needs: one health check, one ok-to-stop answer for the batch. */
const BASELINE_GATES_PER_BATCH = 2;

const rig = useScaleRig();
let baseline: BaselineWorker | undefined;
beforeAll(async () => {
  baseline = await startBaselineWorker(inject('temporalAddress'), rig().config.temporal.namespace);
}, 120_000);
afterAll(async () => {
  await baseline?.shutdown();
});

/** Samples this process's RSS (the worker runs in it) every 500 ms until stopped; the peak in MiB. */
function sampleRss() {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 500);
  return () => {
    clearInterval(t);
    return Math.round(Math.max(peak, process.memoryUsage().rss) / 2 ** 20);
  };
}

const describeProfile = (p: UpgradeProfile) =>
  `${p.parentRuns} parent run(s) + ${p.children} children; per host ${p.activitiesPerHost} activities, ${p.eventsPerHost} events; ` +
  `parent ${p.gatesPerBatch.toFixed(1)} gate activities per batch, ${p.parentOneOff} others; ${p.batches.length} batches (${p.batches.join(',')}); ` +
  `longest history ${p.maxEvents} events; payloads ${(p.payloadBytes / 2 ** 20).toFixed(1)} MiB in all, largest ${p.largestPayload} B; ` +
  `child activities ${JSON.stringify(p.childActivityTypes)}`;

describe('bench: rolling upgrade at scale', () => {
  it(`row 1: ${ROW1.hosts} hosts × ${ROW1.osdsPerHost} OSDs, max_concurrent 16, ≤ ${RATIO_GOAL} × a bare workflow of the same shape`, async () => {
    const api = rig();
    const real = await upgradeAtScale(api, ROW1, 900_000);
    expect(real.op.status, JSON.stringify(real.op.error)).toBe('completed');
    const p = await profileUpgrade(api.client, real.operationId, real.op.temporal.workflow_id);
    console.log(`bench upgrade-${ROW1.hosts}: ${real.seconds.toFixed(1)} s; ${describeProfile(p)}`);
    expect(p.children).toBe(ROW1.hosts);
    expect(p.batches.reduce((a, b) => a + b, 0)).toBe(ROW1.hosts);

    // Per batch the work needs two gates (cluster not HEALTH_ERR, one ok-to-stop answer); per host,
    // as many activities as the real children ran.
    const input = { batches: p.batches, perBatch: BASELINE_GATES_PER_BATCH, perHost: p.activitiesPerHost };
    const base = await baseline!.run(api.client, input);
    expect(base.hosts).toBe(ROW1.hosts);
    console.log(`bench upgrade-${ROW1.hosts} baseline: ${base.seconds.toFixed(1)} s (${JSON.stringify(input)})`);

    const perHost = real.seconds / ROW1.hosts;
    const basePerHost = base.seconds / ROW1.hosts;
    const ratio = perHost / basePerHost;
    recordRow({
      figure: `rolling upgrade, ${ROW1.hosts} hosts / ${ROW1.hosts * ROW1.osdsPerHost} OSDs, max_concurrent 16, instant hardware: time per host`,
      value: `${perHost.toFixed(3)} s/host (${real.seconds.toFixed(1)} s)`,
      baseline: `${basePerHost.toFixed(3)} s/host (${base.seconds.toFixed(1)} s; ${p.activitiesPerHost} no-ops per child)`,
      ratio,
      goal: `≤ ${RATIO_GOAL} × baseline`,
      pass: ratio <= RATIO_GOAL,
    });
    expect(ratio).toBeLessThanOrEqual(RATIO_GOAL);
  }, 900_000);

  it(`row 2: ${ROW2.hosts} hosts × ${ROW2.osdsPerHost} OSDs completes, every history ≤ ${MAX_EVENTS} events, worker RSS bounded`, async () => {
    const api = rig();
    const rss = sampleRss();
    const real = await upgradeAtScale(api, ROW2, 1_700_000);
    const peakMb = rss();
    expect(real.op.status, JSON.stringify(real.op.error)).toBe('completed');
    const p = await profileUpgrade(api.client, real.operationId, real.op.temporal.workflow_id);
    console.log(
      `bench upgrade-${ROW2.hosts}: ${real.seconds.toFixed(1)} s, peak RSS ${peakMb} MiB; ${describeProfile(p)}`,
    );
    expect(p.children).toBe(ROW2.hosts);
    const pass = p.maxEvents <= MAX_EVENTS && peakMb <= MAX_RSS_MB;
    recordRow({
      figure: `the same at ${ROW2.hosts} hosts / ${ROW2.hosts * ROW2.osdsPerHost} OSDs (${ROW2.osdsPerHost} per host)`,
      value: `completed in ${real.seconds.toFixed(1)} s (${(real.seconds / ROW2.hosts).toFixed(3)} s/host); ${p.executions} workflows, longest history ${p.maxEvents} events; peak RSS ${peakMb} MiB`,
      baseline: '—',
      ratio: null,
      goal: `completes; every history ≤ ${MAX_EVENTS.toLocaleString('en')} events; RSS ≤ ${MAX_RSS_MB} MiB`,
      pass,
    });
    expect(p.maxEvents).toBeLessThanOrEqual(MAX_EVENTS);
    expect(peakMb).toBeLessThanOrEqual(MAX_RSS_MB);
  }, 1_800_000);
});
