import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { afterAll, beforeAll, expect } from 'vitest';
import { json } from '../../db/database';
import { addressScope } from '../../db/repositories/nodes.repository';
import {
  createSandboxCephCluster,
  getSandboxCephState,
  rackSandboxMachine,
  type SandboxCephState,
} from '../../drivers/sandbox';
import { newId } from '../../lib/ids';
import { encryptSecret } from '../../lib/secrets';
import type { RunningWorker } from '../../worker/main';
import { startTestApi, type TestApi } from '../helpers/api';
import { testDb } from '../helpers/db';
import { startTestWorker } from '../helpers/worker';

/**
 * Sandbox clusters for upgrade tests, built as fixtures (cluster creation through the API is another
 * operation): machines racked, node rows written as registration would leave them (online, host key
 * pinned, credentials encrypted), and the simulated Ceph created at speed 0.
 */
export interface FixtureCluster {
  clusterId: string;
  nodes: { id: string; hostname: string; ipmi_address: string; ip_address: string }[];
}

let clusterSeq = 0;

/** What a fixture cluster is written with: the test API, or any database with an account and a secret key. */
export type FixtureTarget = Pick<TestApi, 'db'> & {
  config: Pick<TestApi['config'], 'secretKey'>;
  account: Pick<TestApi['account'], 'accountId'>;
};

export async function sandboxCluster(
  api: FixtureTarget,
  opts: {
    hosts: number;
    osdsPerHost?: number;
    replication?: number;
    minSize?: number;
    cephVersion?: string;
    /**
     * Every machine gets exactly this many HDDs (sda, sdb, …) instead of its generated 4–8 drives,
     * so that a cluster of e.g. 24 OSDs per host can be built (scale benches).
     */
    drivesPerHost?: number;
    /** Hosts in racks of this many, in order, and pools replicated across racks (failure domain rack). */
    rackSize?: number;
  },
): Promise<FixtureCluster> {
  clusterSeq += 1;
  const { db, config } = api;
  const accountId = api.account.accountId;
  const tag = `${process.pid % 200}-${clusterSeq}-${Math.random().toString(36).slice(2, 6)}`;
  const nodes: FixtureCluster['nodes'] = [];
  const rows = [];
  for (let i = 0; i < opts.hosts; i++) {
    const hostname = `u${tag}-h${String(i + 1).padStart(3, '0')}`;
    const ip = `10.${clusterSeq}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const ipmi = `11.${clusterSeq}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const m = await rackSandboxMachine(
      db,
      { accountId, hostname, ipAddress: ip, ipmiAddress: ipmi, bmcUsername: 'admin', bmcPassword: 'pw' },
      0,
    );
    if (opts.drivesPerHost !== undefined) {
      m.drives = uniformDrives(opts.drivesPerHost);
      await db
        .updateTable('sandbox_machines')
        .set({ drives: json(m.drives) })
        .where('id', '=', m.id)
        .execute();
    }
    const id = newId('node');
    nodes.push({ id, hostname, ipmi_address: ipmi, ip_address: ip });
    rows.push({
      id,
      account_id: accountId,
      environment: 'sandbox' as const,
      address_scope: addressScope('sandbox', accountId),
      hostname,
      ip_address: ip,
      ssh_user: 'nodefoundry',
      ssh_private_key_enc: encryptSecret(config.secretKey, 'sandbox-key'),
      ssh_host_key_fingerprint: m.host_key_fingerprint,
      ipmi_address: ipmi,
      ipmi_username: 'admin',
      ipmi_password_enc: encryptSecret(config.secretKey, 'pw'),
      status: 'online' as const,
      cpu_cores: m.cpu_cores,
      ram_gb: m.ram_gb,
      drives: json(m.drives),
    });
  }
  const clusterId = newId('cluster');
  await db
    .insertInto('clusters')
    .values({
      id: clusterId,
      account_id: accountId,
      environment: 'sandbox',
      name: `upg-${tag}`,
      status: 'HEALTH_OK',
      ceph_version: opts.cephVersion ?? 'reef',
      admin_node_id: nodes[0]!.id,
    })
    .execute();
  for (let i = 0; i < rows.length; i += 100) {
    await db
      .insertInto('nodes')
      .values(rows.slice(i, i + 100).map((r) => ({ ...r, cluster_id: clusterId })))
      .execute();
  }
  const machines = await db
    .selectFrom('sandbox_machines')
    .select(['hostname', 'drives'])
    .where('account_id', '=', accountId)
    .execute();
  const drivesOf = new Map(machines.map((m) => [m.hostname, m.drives]));
  await createSandboxCephCluster(
    db,
    {
      accountId,
      clusterId,
      hosts: nodes.map((n, i) => ({
        hostname: n.hostname,
        ...(opts.rackSize ? { rack: `rack${Math.floor(i / opts.rackSize) + 1}` } : {}),
        ipmiAddress: n.ipmi_address,
        osdDevices: drivesOf
          .get(n.hostname)!
          .slice(0, opts.osdsPerHost ?? 2)
          .map((d) => d.device),
      })),
      replication: opts.replication ?? 3,
      minSize: opts.minSize ?? 2,
      cephVersion: opts.cephVersion ?? 'reef',
      ...(opts.rackSize ? { failureDomain: 'rack' as const } : {}),
    },
    0,
  );
  return { clusterId, nodes };
}

/** n identical 4 TB HDDs named as the kernel would (sda … sdz, sdaa …). */
function uniformDrives(n: number) {
  const letters = (i: number): string =>
    i < 26 ? String.fromCharCode(97 + i) : letters(Math.floor(i / 26) - 1) + String.fromCharCode(97 + (i % 26));
  return Array.from({ length: n }, (_, i) => ({
    device: `sd${letters(i)}`,
    size_gb: 4000,
    type: 'hdd' as const,
    smart_ok: true,
  }));
}

export async function cephState(api: TestApi, clusterId: string): Promise<SandboxCephState> {
  return (await getSandboxCephState(api.db, clusterId))!;
}

/** Polls GET /v1/operations/{id} until `until` (default: a terminal status). */
export async function waitForOperation(
  api: TestApi,
  id: string,
  until: (op: any) => boolean = (op) => ['completed', 'failed', 'cancelled'].includes(op.status),
  timeoutMs = 90_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await api.request('GET', `/v1/operations/${id}`);
    expect(r.status).toBe(200);
    if (until(r.body.data)) return r.body.data;
    if (Date.now() > deadline)
      throw new Error(`operation ${id} still ${r.body.data.status}: ${JSON.stringify(r.body.data).slice(0, 3000)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

export async function recordHistory(api: TestApi, workflowId: string, name: string, runId?: string): Promise<void> {
  if (process.env.NF_RECORD_HISTORIES !== '1') return;
  const history = await api.client.workflow.getHandle(workflowId, runId).fetchHistory();
  const dir = path.resolve(__dirname, '../replay/histories');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, `${name}.json`), JSON.stringify(JSON.parse(historyToJSON(history)), null, 1));
}

/**
 * API + worker for the 200-host upgrade (its test and its benchmark), started before the file's
 * tests and stopped after them: fast polling, quiet logs, and a worker pool of its own sized like a
 * production worker's, since nine hosts' activities run at once. Returns the API's getter.
 */
export function useScaleRig(): () => TestApi {
  let api: TestApi | undefined;
  let worker: RunningWorker | undefined;
  let workerDb: ReturnType<typeof testDb> | undefined;
  beforeAll(async () => {
    api = await startTestApi({ NF_POLL_INTERVAL_MS: '50', NF_LOG_LEVEL: 'silent' });
    workerDb = testDb(10);
    worker = await startTestWorker(api.config, workerDb);
  });
  afterAll(async () => {
    await worker?.shutdown();
    await workerDb?.destroy();
    await api?.close();
  });
  return () => api!;
}

/** A sandbox rolling upgrade at scale (hardware at instant speed), timed from the request to its end. */
export interface ScaleUpgrade {
  hosts: number;
  osdsPerHost: number;
  maxConcurrent: number;
  replication: number;
  minSize: number;
  /** Hosts per rack (failure domain rack); unset: failure domain host. */
  rackSize?: number;
  /** Give every machine exactly osdsPerHost drives (needed above the 4 drives every machine has). */
  uniformDrives?: boolean;
}

/**
 * Builds the cluster, upgrades it to squid with max_concurrent, waits until the operation ends.
 * `seconds` counts the operation only (request to terminal state), not building the fixture.
 */
export async function upgradeAtScale(api: TestApi, u: ScaleUpgrade, timeoutMs: number) {
  const cluster = await sandboxCluster(api, {
    hosts: u.hosts,
    osdsPerHost: u.osdsPerHost,
    replication: u.replication,
    minSize: u.minSize,
    ...(u.uniformDrives ? { drivesPerHost: u.osdsPerHost } : {}),
    ...(u.rackSize ? { rackSize: u.rackSize } : {}),
  });
  const started = Date.now();
  const r = await api.request('POST', `/v1/clusters/${cluster.clusterId}/upgrade`, {
    body: { ceph_version: 'squid', max_concurrent: u.maxConcurrent },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  const op = await waitForOperation(api, r.body.data.operation_id, undefined, timeoutMs);
  return { ...cluster, op, operationId: r.body.data.operation_id as string, seconds: (Date.now() - started) / 1000 };
}

/**
 * The 200-host rolling upgrade of the scale test: 1 OSD per host, 10 replicas with min_size 1
 * (ok-to-stop lets 9 hosts stop at once), squid, max_concurrent 10; waits until it ends.
 */
export function upgrade200Hosts(api: TestApi, timeoutMs: number) {
  return upgradeAtScale(api, { hosts: 200, osdsPerHost: 1, maxConcurrent: 10, replication: 10, minSize: 1 }, timeoutMs);
}
