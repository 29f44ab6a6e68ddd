import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from '../test/helpers/api';
import { sandboxCluster, startScaleRig, waitForOperation } from '../test/workflows/upgrade-fixtures';
import { report, TARGETS } from './targets';

/**
 * How long a 200-host rolling upgrade takes at instant sandbox speed (max_concurrent 10): the
 * control plane's own overhead — workflows, activities, PostgreSQL — with hardware taking no time.
 * Its behaviour (each host once, ≤ 10 down, continue-as-new) is tested in test/workflows/upgrade-scale.test.ts.
 */
let api: TestApi;
let rig: Awaited<ReturnType<typeof startScaleRig>> | undefined;

beforeAll(async () => {
  rig = await startScaleRig();
  api = rig.api;
});

afterAll(async () => {
  await rig?.close();
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
