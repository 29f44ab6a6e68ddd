import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  generateSecretKey,
  loadConfig,
  MONITOR_SANDBOX_FLOOR_MS,
  monitorIntervalMs,
  parseSecretKey,
} from '../../lib/config';

const base = () => ({
  DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
  NF_SECRET_KEY: generateSecretKey(),
});

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('has working defaults and is frozen', () => {
    const c = loadConfig(base());
    expect(c.port).toBe(8080);
    expect(c.host).toBe('127.0.0.1');
    expect(c.temporal).toMatchObject({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'nodefoundry' });
    expect(c.secretKey.length).toBe(32);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.temporal)).toBe(true);
    expect(() => {
      (c as { port: number }).port = 1;
    }).toThrow();
  });

  it('names the variable that is missing or wrong', () => {
    expect(configError({ NF_SECRET_KEY: generateSecretKey() })).toMatch(/DATABASE_URL is required/);
    expect(configError({ ...base(), DATABASE_URL: 'mysql://x' })).toMatch(/DATABASE_URL must be a postgres/);
    expect(configError({ DATABASE_URL: base().DATABASE_URL })).toMatch(/NF_SECRET_KEY is required/);
    expect(configError({ ...base(), NF_SECRET_KEY: 'abcd' })).toMatch(/NF_SECRET_KEY must be 32 bytes/);
    expect(configError({ ...base(), PORT: '80a' })).toMatch(/PORT must be an integer/);
    expect(configError({ ...base(), PORT: '70000' })).toMatch(/PORT must be between 0 and 65535/);
    expect(configError({ ...base(), NF_LOG_LEVEL: 'loud' })).toMatch(/NF_LOG_LEVEL must be one of/);
    expect(configError({ ...base(), NF_SANDBOX_SPEED: '-1' })).toMatch(/NF_SANDBOX_SPEED/);
    expect(configError({ ...base(), NF_POLL_INTERVAL_MS: '1' })).toMatch(/NF_POLL_INTERVAL_MS must be between/);
  });

  it('NF_DRAIN_SLOTS: drains per cluster, default 2, an integer from 1 to 64', () => {
    expect(loadConfig(base()).drainSlotsPerCluster).toBe(2);
    expect(loadConfig({ ...base(), NF_DRAIN_SLOTS: '5' }).drainSlotsPerCluster).toBe(5);
    expect(loadConfig({ ...base(), NF_DRAIN_SLOTS: '1' }).drainSlotsPerCluster).toBe(1);
    expect(configError({ ...base(), NF_DRAIN_SLOTS: '0' })).toMatch(/NF_DRAIN_SLOTS must be between 1 and 64, got 0/);
    expect(configError({ ...base(), NF_DRAIN_SLOTS: '65' })).toMatch(/NF_DRAIN_SLOTS must be between 1 and 64/);
    expect(configError({ ...base(), NF_DRAIN_SLOTS: '2.5' })).toMatch(/NF_DRAIN_SLOTS must be an integer/);
    expect(configError({ ...base(), NF_DRAIN_SLOTS: 'two' })).toMatch(/NF_DRAIN_SLOTS must be an integer/);
  });

  it('reads secret keys as hex or base64, and only 32 bytes', () => {
    const hex = generateSecretKey();
    expect(parseSecretKey(hex).toString('hex')).toBe(hex);
    const b64 = Buffer.from(hex, 'hex').toString('base64');
    expect(parseSecretKey(b64).equals(Buffer.from(hex, 'hex'))).toBe(true);
    expect(() => parseSecretKey(Buffer.alloc(16).toString('base64'))).toThrow(ConfigError);
  });

  it('takes overrides for tests and trims the UI URL', () => {
    const c = loadConfig({
      ...base(),
      PORT: '0',
      TEMPORAL_TASK_QUEUE: 'q1',
      TEMPORAL_UI_URL: 'http://ui:8233/',
      NF_SANDBOX_SPEED: '0',
    });
    expect(c.port).toBe(0);
    expect(c.temporal.taskQueue).toBe('q1');
    expect(c.temporal.uiUrl).toBe('http://ui:8233');
    expect(c.sandboxSpeed).toBe(0);
  });
});

describe('config: tenancy and HTTP bounds (issue 8 #9, #14)', () => {
  it('defaults refuse local node addresses, bound slow clients, limit unauthenticated requests and trust no proxy', () => {
    const c = loadConfig(base());
    expect(c.allowLocalNodeAddresses).toBe(false);
    expect(c.http).toEqual({ headersTimeoutMs: 10_000, requestTimeoutMs: 90_000, keepAliveTimeoutMs: 5_000 });
    expect(c.anonRateLimitPerMinute).toBe(300);
    expect(c.trustProxy).toBe(false);
    expect(loadConfig({ ...base(), NF_ALLOW_LOCAL_ADDRESSES: 'true', NF_TRUST_PROXY: '1' })).toMatchObject({
      allowLocalNodeAddresses: true,
      trustProxy: true,
    });
  });

  it('rejects what it cannot read', () => {
    expect(configError({ ...base(), NF_ALLOW_LOCAL_ADDRESSES: 'yes' })).toMatch(
      /NF_ALLOW_LOCAL_ADDRESSES must be true or false/,
    );
    expect(configError({ ...base(), NF_HEADERS_TIMEOUT_MS: '20000', NF_REQUEST_TIMEOUT_MS: '10000' })).toMatch(
      /NF_REQUEST_TIMEOUT_MS must be at least/,
    );
    expect(configError({ ...base(), NF_ANON_RATE_LIMIT: '-1' })).toMatch(/NF_ANON_RATE_LIMIT must be between/);
  });

  it('webhook retry schedule: NF_WEBHOOK_RETRY_INITIAL_MS / _MAX_INTERVAL_MS / NF_WEBHOOK_MAX_ATTEMPTS, defaults as documented', () => {
    expect(loadConfig(base()).webhookRetry).toEqual({
      initialIntervalMs: 1000,
      maximumIntervalMs: 60_000,
      maximumAttempts: 8,
    });
    expect(
      loadConfig({
        ...base(),
        NF_WEBHOOK_RETRY_INITIAL_MS: '100',
        NF_WEBHOOK_RETRY_MAX_INTERVAL_MS: '200',
        NF_WEBHOOK_MAX_ATTEMPTS: '3',
      }).webhookRetry,
    ).toEqual({ initialIntervalMs: 100, maximumIntervalMs: 200, maximumAttempts: 3 });
    expect(configError({ ...base(), NF_WEBHOOK_MAX_ATTEMPTS: '0' })).toMatch(
      /NF_WEBHOOK_MAX_ATTEMPTS must be between 1/,
    );
    expect(configError({ ...base(), NF_WEBHOOK_RETRY_INITIAL_MS: 'soon' })).toMatch(
      /NF_WEBHOOK_RETRY_INITIAL_MS must be an integer/,
    );
    expect(
      configError({ ...base(), NF_WEBHOOK_RETRY_INITIAL_MS: '5000', NF_WEBHOOK_RETRY_MAX_INTERVAL_MS: '1000' }),
    ).toMatch(/NF_WEBHOOK_RETRY_MAX_INTERVAL_MS must be at least NF_WEBHOOK_RETRY_INITIAL_MS/);
  });

  it('NF_WEBHOOK_DISPATCH_MS below one second is refused at start (Temporal refuses such a Schedule and no webhook would ever be sent)', () => {
    expect(loadConfig({ ...base(), NF_WEBHOOK_DISPATCH_MS: '0' }).webhookDispatchMs).toBe(0);
    expect(loadConfig({ ...base(), NF_WEBHOOK_DISPATCH_MS: '1000' }).webhookDispatchMs).toBe(1000);
    expect(configError({ ...base(), NF_WEBHOOK_DISPATCH_MS: '250' })).toMatch(
      /NF_WEBHOOK_DISPATCH_MS must be 0 \(none\) or whole seconds \(1000, 2000, …\): a Temporal Schedule runs at most once a second, got 250/,
    );
    expect(configError({ ...base(), NF_WEBHOOK_DISPATCH_MS: '1500' })).toMatch(/must be 0 \(none\) or whole seconds/);
  });

  it('NF_SETTLE_INTERVAL_MS below one second is refused at start too (the settler is a Temporal Schedule as well)', () => {
    expect(loadConfig({ ...base(), NF_SETTLE_INTERVAL_MS: '0' }).settle.intervalMs).toBe(0);
    expect(loadConfig({ ...base(), NF_SETTLE_INTERVAL_MS: '5000' }).settle.intervalMs).toBe(5000);
    expect(configError({ ...base(), NF_SETTLE_INTERVAL_MS: '500' })).toMatch(
      /NF_SETTLE_INTERVAL_MS must be 0 \(none\) or whole seconds/,
    );
  });
});

describe('config: the cluster monitor interval follows the sandbox speed knob (issue 11)', () => {
  const at = (interval: string, speed: string) =>
    loadConfig({ ...base(), NF_MONITOR_INTERVAL_MS: interval, NF_SANDBOX_SPEED: speed });

  it('a live cluster uses NF_MONITOR_INTERVAL_MS as is, whatever the sandbox speed', () => {
    expect(monitorIntervalMs(at('30000', '0.1'), 'live')).toBe(30_000);
    expect(monitorIntervalMs(at('30000', '0'), 'live')).toBe(30_000);
    expect(monitorIntervalMs(at('3000', '5'), 'live')).toBe(3_000);
  });

  it('a sandbox cluster scales it like every simulated delay: interval × speed', () => {
    expect(monitorIntervalMs(at('30000', '1'), 'sandbox')).toBe(30_000);
    expect(monitorIntervalMs(at('30000', '0.1'), 'sandbox')).toBe(3_000);
    expect(monitorIntervalMs(at('30000', '2'), 'sandbox')).toBe(60_000);
  });

  it('never below the floor (the instant sandbox does not make the monitor spin), unless configured shorter', () => {
    expect(MONITOR_SANDBOX_FLOOR_MS).toBe(250);
    expect(monitorIntervalMs(at('30000', '0'), 'sandbox')).toBe(250);
    expect(monitorIntervalMs(at('1000', '0.01'), 'sandbox')).toBe(250);
    expect(monitorIntervalMs(at('100', '0'), 'sandbox')).toBe(100);
  });

  it('0 still means no monitor, in both environments', () => {
    expect(monitorIntervalMs(at('0', '0.1'), 'sandbox')).toBe(0);
    expect(monitorIntervalMs(at('0', '1'), 'live')).toBe(0);
  });
});
