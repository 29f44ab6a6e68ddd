import { describe, expect, it } from 'vitest';
import { upgrade200Hosts, useScaleRig } from '../test/workflows/upgrade-fixtures';
import { report, TARGETS } from './targets';

/**
 * How long a 200-host rolling upgrade takes at instant sandbox speed (max_concurrent 10): the
 * control plane's own overhead — workflows, activities, PostgreSQL — with hardware taking no time.
 * Its behaviour (each host once, ≤ 10 down, continue-as-new) is tested in test/workflows/upgrade-scale.test.ts.
 */
const api = useScaleRig();

describe('bench: rolling upgrade at scale', () => {
  it(`200 hosts, max_concurrent 10, within ${TARGETS.upgrade200Seconds} s`, async () => {
    const { op, seconds } = await upgrade200Hosts(api(), 900_000);
    expect(op.status).toBe('completed');
    report('upgrade-200', {
      seconds: seconds.toFixed(1),
      per_host_s: (seconds / 200).toFixed(2),
      runs: op.result.runs,
      target_s: TARGETS.upgrade200Seconds,
    });
    expect(seconds).toBeLessThan(TARGETS.upgrade200Seconds);
  });
});
