import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../db/database';
import { parseSecretKey } from '../lib/config';
import { sandboxCluster } from '../test/workflows/upgrade-fixtures';
import { recordRow } from './table';
import { report } from './targets';

/**
 * Issue 14, "The production topology, run for real": the 180-host, 4,320-OSD rolling upgrade
 * (max_concurrent 16, instant sandbox hardware) on the topology of docker-compose.yml run natively —
 * the Temporal server itself on PostgreSQL, two API processes and two worker processes
 * (scripts/topology/up.sh, docs/deployment.md "Without Docker"). The request and every poll go over
 * HTTP to the two APIs in turn; the fixture (machines, nodes, the simulated Ceph) is written to the
 * topology's database as test/workflows/upgrade-fixtures.ts writes it. The dev-server figure and its
 * bare-workflow baseline are bench/upgrade-scale.bench.ts's; this row's goal is that it completes.
 */
const HOSTS = Number(process.env.BENCH_TOPOLOGY_HOSTS ?? 180);
const OSDS_PER_HOST = 24;
const MAX_CONCURRENT = 16;
const RACK_SIZE = 16;
const TIMEOUT_MS = Number(process.env.BENCH_TOPOLOGY_TIMEOUT_MS ?? 1_200_000);
const REPO = path.resolve(__dirname, '..');

interface Topology {
  dir: string;
  env: Record<string, string>;
  apis: string[];
}

/** The environment of the topology's processes: this one's without vitest's (as chaos does). */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('VITEST') && k !== 'NODE_OPTIONS' && !k.startsWith('NF_')) env[k] = v;
  return Object.assign(env, extra);
}

function run(args: string[], env: Record<string, string>, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', args, { cwd: REPO, env, stdio: ['ignore', 'inherit', 'inherit'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${args.join(' ')} exited with ${code}`));
    });
  });
}

function readEnv(file: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).replace(/^'(.*)'$/, '$1')]),
  );
}

/**
 * HOSTS machines with 24 drives each, racked at speed 0 (instant), their node rows as registration
 * leaves them, a HEALTH_OK reef cluster, the simulated Ceph: one OSD per drive, racks of 16,
 * replicated 3 across racks with min_size 2 (ok-to-stop lets a whole rack stop at once). The same
 * fixture as the dev-server rows (test/workflows/upgrade-fixtures.ts), written to the topology's database.
 */
async function buildCluster(db: Db, accountId: string, secretKey: Buffer): Promise<string> {
  const { clusterId } = await sandboxCluster(
    { db, config: { secretKey }, account: { accountId } },
    { hosts: HOSTS, osdsPerHost: OSDS_PER_HOST, drivesPerHost: OSDS_PER_HOST, rackSize: RACK_SIZE },
  );
  return clusterId;
}

let topo: Topology | undefined;

beforeAll(async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nodefoundry-topology-bench-'));
  topo = { dir, env: {}, apis: [] };
  const base = process.env.DATABASE_URL;
  if (!base) throw new Error('DATABASE_URL is not set (npm run bench sets it)');
  // Fast polling and quiet logs, as the dev-server scale rig (test/workflows/upgrade-fixtures.ts).
  await run(
    ['scripts/topology/up.sh', dir],
    cleanEnv({ DATABASE_URL: base, NF_POLL_INTERVAL_MS: '50', NF_LOG_LEVEL: 'silent' }),
    1_800_000,
  );
  topo.env = readEnv(path.join(dir, 'env'));
  topo.apis = topo.env.NF_API_URLS!.split(',');
}, 1_800_000);

afterAll(async () => {
  if (!topo) return;
  await run(['scripts/topology/down.sh', topo.dir], cleanEnv({}), 300_000);
  rmSync(topo.dir, { recursive: true, force: true });
}, 300_000);

describe('bench: the production topology', () => {
  it(
    `${HOSTS}-host, ${HOSTS * OSDS_PER_HOST}-OSD upgrade on the Temporal server on PostgreSQL, 2 APIs, 2 workers`,
    async () => {
      const t = topo!;
      const db = createDb(t.env.DATABASE_URL!, 4);
      let n = 0;
      const http = async (method: string, p: string, body?: unknown) => {
        const url = t.apis[n++ % t.apis.length]! + p;
        const res = await fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${t.env.NF_API_KEY}`,
            ...(body ? { 'content-type': 'application/json', 'idempotency-key': `bench-${method}-${p}` } : {}),
          },
          body: body ? JSON.stringify(body) : undefined,
          signal: AbortSignal.timeout(30_000),
        });
        return { status: res.status, body: (await res.json()) as any };
      };
      try {
        const clusterId = await buildCluster(db, t.env.NF_ACCOUNT_ID!, parseSecretKey(t.env.NF_SECRET_KEY!));
        const started = Date.now();
        const r = await http('POST', `/v1/clusters/${clusterId}/upgrade`, {
          ceph_version: 'squid',
          max_concurrent: MAX_CONCURRENT,
        });
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        const opId = r.body.data.operation_id as string;
        let op: any;
        const deadline = started + TIMEOUT_MS;
        for (;;) {
          const g = await http('GET', `/v1/operations/${opId}`);
          expect(g.status, JSON.stringify(g.body)).toBe(200);
          op = g.body.data;
          if (['completed', 'failed', 'cancelled'].includes(op.status)) break;
          if (Date.now() > deadline) throw new Error(`operation ${opId} still ${op.status} after ${TIMEOUT_MS} ms`);
          await new Promise((res) => setTimeout(res, 250));
        }
        const seconds = (Date.now() - started) / 1000;
        const perHost = seconds / HOSTS;
        report('upgrade-topology', {
          hosts: HOSTS,
          osds: HOSTS * OSDS_PER_HOST,
          seconds: seconds.toFixed(1),
          per_host_s: perHost.toFixed(3),
          status: op.status,
        });
        recordRow({
          figure: `${HOSTS}-host upgrade on the production topology (Temporal server on PostgreSQL, 2 APIs, 2 workers): time per host`,
          value: `${perHost.toFixed(3)} s/host (${seconds.toFixed(1)} s)`,
          baseline: '—',
          ratio: null,
          goal: 'completes',
          pass: op.status === 'completed',
        });
        expect(op.status, JSON.stringify(op).slice(0, 2000)).toBe('completed');
      } finally {
        await db.destroy();
      }
    },
    TIMEOUT_MS + 600_000,
  );
});
