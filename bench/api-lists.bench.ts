import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { startTestApi, type TestApi } from '../test/helpers/api';
import { pawseyCluster } from './fixtures/pawsey';
import { startBaselineListServer, type BaselineListServer } from './baseline/list-server';
import { loadTest } from './load/load';
import type { LoadResult } from './load/autocannon-run';
import { recordRow } from './table';
import { TARGETS, report } from './targets';

/**
 * Issue 14, "GET /v1/nodes?per_page=100 and GET /v1/clusters/{id}/osds?per_page=100 on the 4,320-OSD
 * cluster": the Pawsey-size cluster (180 hosts × 24 OSDs) written as fixtures, then each page served
 * under concurrent load by autocannon (its own process, CONNECTIONS connections, ROUND_S seconds a
 * round) from the real API (auth, validation, rate limit, locks) and from a bare Koa + pg server with
 * a pool of the same size (bench/baseline/list-server.ts), the two alternated ROUNDS times so machine
 * noise hits both. Goal: the API's throughput ≥ 0.8 × the baseline's, and no non-2xx.
 */
const HOSTS = 180;
const OSDS_PER_HOST = 24;
const CONNECTIONS = Number(process.env.BENCH_LIST_CONNECTIONS ?? 16);
const ROUND_S = Number(process.env.BENCH_LIST_ROUND_S ?? 6);
const ROUNDS = Number(process.env.BENCH_LIST_ROUNDS ?? 3);
/** Both servers' PostgreSQL pool: production's (db/database.ts createDb). */
const POOL_SIZE = 10;

let api: TestApi;
let bare: BaselineListServer;
let clusterId: string;

beforeAll(async () => {
  api = await startTestApi({ NF_LOG_LEVEL: 'info' }, { dbPoolSize: POOL_SIZE, productionLogging: true });
  clusterId = await pawseyCluster(api, HOSTS, OSDS_PER_HOST);
  bare = await startBaselineListServer({
    databaseUrl: inject('databaseUrl'),
    poolSize: POOL_SIZE,
    accountId: api.account.accountId,
    environment: 'sandbox',
  });
});

afterAll(async () => {
  await bare?.close();
  await api?.close();
});

function merge(runs: LoadResult[]): { rps: number; p95Ms: number; statuses: Record<string, number> } {
  const statuses: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return {
    rps: runs.reduce((s, r) => s + r.requests, 0) / runs.reduce((s, r) => s + r.seconds, 0),
    // The rounds' p95s, worst kept (rounds are equal in length, so this is conservative).
    p95Ms: Math.max(...runs.map((r) => r.p95Ms)),
    statuses,
  };
}

describe('bench: list pages of the 4,320-OSD cluster under concurrent load', () => {
  for (const page of [
    { name: 'GET /v1/nodes?per_page=100', path: () => '/v1/nodes?per_page=100' },
    { name: 'GET /v1/clusters/{id}/osds?per_page=100', path: () => `/v1/clusters/${clusterId}/osds?per_page=100` },
  ]) {
    it(`${page.name}: throughput ≥ ${TARGETS.listThroughputRatio} × bare Koa + pg`, async () => {
      // The API answers the same page the baseline does.
      const check = await api.request('GET', page.path(), { key: api.account.keys.test });
      expect(check.status).toBe(200);
      expect(check.body.data).toHaveLength(100);
      const checkBare = (await (await fetch(bare.base + page.path())).json()) as any;
      expect(checkBare.meta.total).toBe(check.body.meta.total);
      expect(checkBare.data.map((d: any) => d.id ?? d.osd_id)).toEqual(
        check.body.data.map((d: any) => d.id ?? d.osd_id),
      );

      const headers = { authorization: `Bearer ${api.account.keys.test}` };
      const spec = (base: string, durationS: number) => ({
        url: base + page.path(),
        headers,
        connections: CONNECTIONS,
        durationS,
      });
      // Warm-up of both (JIT, pools, PostgreSQL caches), not counted.
      await loadTest(spec(api.base, 2));
      await loadTest(spec(bare.base, 2));
      const nf: LoadResult[] = [];
      const base: LoadResult[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        // Alternated, and the order flipped each round, so drift in machine load hits both.
        if (i % 2 === 0) {
          nf.push(await loadTest(spec(api.base, ROUND_S)));
          base.push(await loadTest(spec(bare.base, ROUND_S)));
        } else {
          base.push(await loadTest(spec(bare.base, ROUND_S)));
          nf.push(await loadTest(spec(api.base, ROUND_S)));
        }
      }
      const n = merge(nf);
      const b = merge(base);
      const ratio = n.rps / b.rps;
      report(`list ${page.name}`, {
        connections: CONNECTIONS,
        rounds: `${ROUNDS}x${ROUND_S}s`,
        nf_rps: n.rps.toFixed(0),
        nf_p95_ms: n.p95Ms.toFixed(1),
        nf_statuses: JSON.stringify(n.statuses),
        bare_rps: b.rps.toFixed(0),
        bare_p95_ms: b.p95Ms.toFixed(1),
        bare_statuses: JSON.stringify(b.statuses),
        ratio: ratio.toFixed(2),
      });
      const pass = ratio >= TARGETS.listThroughputRatio && Object.keys(n.statuses).every((s) => s === '200');
      recordRow({
        figure: `${page.name} (4,320-OSD cluster, ${CONNECTIONS} connections): throughput, p95`,
        value: `${n.rps.toFixed(0)} req/s, p95 ${n.p95Ms.toFixed(1)} ms`,
        baseline: `${b.rps.toFixed(0)} req/s, p95 ${b.p95Ms.toFixed(1)} ms (bare Koa + pg)`,
        ratio,
        goal: `≥ ${TARGETS.listThroughputRatio} × baseline throughput`,
        pass,
      });
      expect(n.statuses).toEqual({ '200': n.statuses['200'] });
      expect(b.statuses).toEqual({ '200': b.statuses['200'] });
      expect(ratio).toBeGreaterThanOrEqual(TARGETS.listThroughputRatio);
    });
  }
});
