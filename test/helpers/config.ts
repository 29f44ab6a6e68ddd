import { inject } from 'vitest';
import { generateSecretKey, loadConfig, type Config } from '../../lib/config';

/**
 * A real Config for tests: the run's database and Temporal server, a unique task queue, an instant
 * sandbox and short polls (there is no time-skipping server, so waits are real time; keep them short).
 */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    DATABASE_URL: inject('databaseUrl'),
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: `test-${process.pid}-${Math.random().toString(36).slice(2, 10)}`,
    NF_SECRET_KEY: generateSecretKey(),
    NF_SANDBOX_SPEED: '0',
    NF_POLL_INTERVAL_MS: '25',
    NF_WAIT_POWER_MS: '10000',
    NF_WAIT_SSH_MS: '10000',
    NF_WAIT_CEPH_MS: '20000',
    // No settler Schedule per test worker (a test that wants one sets it): schedules outlive the test.
    NF_SETTLE_INTERVAL_MS: '0',
    NF_WEBHOOK_DISPATCH_MS: '0',
    // No cluster monitors either (test/workflows/monitor.test.ts turns them on).
    NF_MONITOR_INTERVAL_MS: '0',
    // A test worker must not start monitors for other files' clusters (the run's database is shared).
    NF_MONITOR_ENSURE_AT_START: 'false',
    NF_LOG_LEVEL: process.env.NF_TEST_LOG_LEVEL ?? 'silent',
    PORT: '0',
    // Every test talks from 127.0.0.1: the per-address unauthenticated limit is tested on its own
    // (test/api/rate-limit.test.ts) and must not trip files that send many 401s.
    NF_ANON_RATE_LIMIT: '100000',
    ...overrides,
  });
}
