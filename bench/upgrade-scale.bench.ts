import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../db/database';
import type { RunningWorker } from '../worker/main';
import { startTestApi, type TestApi } from '../test/helpers/api';
import { testDb } from '../test/helpers/db';
import { startTestWorker } from '../test/helpers/worker';
import { sandboxCluster, waitForOperation } from '../test/workflows/upgrade-fixtures';
import { report, TARGETS } from './targets';

/**
 * How long a 200-host rolling upgrade takes at instant sandbox speed (max_concurrent 10): the
 * control plane's own overhead — workflows, activities, PostgreSQL — with hardware taking no time.
 * Its behaviour (each host once, ≤ 10 down, continue-as-new) is tested in test/workflows/upgrade-scale.test.ts.
 */
let api: TestApi;
let worker: RunningWorker;
let workerDb: Db;

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

describe('bench: rolling upgrade at scale', () => {
  it(`200 hosts, max_concurrent 10, within ${TARGETS.upgrade200Seconds} s`, async () => {
    const { clusterId } = await sandboxCluster(api, { hosts: 200, osdsPerHost: 1, replication: 10, minSize: 1 });
    const started = Date.now();
    const r = await api.request('POST', `/v1/clusters/${clusterId}/upgrade`, { body: { ceph_version: 'squid', max_concurrent: 10 } });
    expect(r.status).toBe(202);
    const op = await waitForOperation(api, r.body.data.operation_id, undefined, 900_000);
    const seconds = (Date.now() - started) / 1000;
    expect(op.status).toBe('completed');
    report('upgrade-200', { seconds: seconds.toFixed(1), per_host_s: (seconds / 200).toFixed(2), runs: op.result.runs, target_s: TARGETS.upgrade200Seconds });
    expect(seconds).toBeLessThan(TARGETS.upgrade200Seconds);
  });
});
