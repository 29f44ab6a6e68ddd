import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * The only reader of process.env. Everything else receives a frozen Config.
 * Invalid configuration stops the process at start, never halfway through an operation.
 */
export interface Config {
  readonly host: string;
  readonly port: number;
  /**
   * NF_PUBLIC_URL: the base URL clients reach the API on (the OpenAPI document's `servers`), e.g.
   * https://api.example.com; default http://NF_HOST:PORT, the listen address.
   */
  readonly publicUrl: string;
  readonly databaseUrl: string;
  readonly temporal: {
    readonly address: string;
    readonly namespace: string;
    readonly taskQueue: string;
    readonly uiUrl: string;
  };
  /** 32-byte key for AES-256-GCM encryption of BMC passwords and SSH private keys at rest. */
  readonly secretKey: Buffer;
  readonly dataDir: string;
  /** Multiplier applied to every simulated hardware delay; 0 makes the sandbox instant. */
  readonly sandboxSpeed: number;
  /** Poll interval of waits inside activities (power state, SSH, Ceph health), in ms. */
  readonly pollIntervalMs: number;
  /** Upper bounds of the waits (each wait fails with a typed error past its bound), in ms. */
  readonly waits: {
    readonly powerMs: number;
    readonly sshMs: number;
    readonly cephMs: number;
  };
  /** Reweights/drains that may run at once in one cluster (each holds one of these slots). */
  readonly drainSlotsPerCluster: number;
  readonly ipmitoolPath: string;
  readonly sshReadyTimeoutMs: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /**
   * Whether live nodes may be registered on loopback, link-local (cloud metadata included),
   * unspecified, multicast or broadcast addresses (NF_ALLOW_LOCAL_ADDRESSES). Off: registration
   * must not make the worker probe its own host or its cloud's metadata service. The lab turns it on.
   */
  readonly allowLocalNodeAddresses: boolean;
  /**
   * NF_WEBHOOK_ALLOW_CIDRS: networks a live webhook may target although they are private, loopback
   * or link-local (comma-separated CIDRs; empty: none). docs/api.md §Webhooks.
   */
  readonly webhookAllowCidrs: readonly string[];
  /** NF_WEBHOOK_DISPATCH_MS: how often the webhook dispatcher's Schedule runs (0: the worker creates none; else at least 1000). */
  readonly webhookDispatchMs: number;
  /**
   * The retry schedule of one webhook delivery (docs/api.md §Webhooks): the first retry after
   * NF_WEBHOOK_RETRY_INITIAL_MS (default 1000), doubling up to NF_WEBHOOK_RETRY_MAX_INTERVAL_MS
   * (default 60000), at most NF_WEBHOOK_MAX_ATTEMPTS attempts in all (default 8). Passed by the
   * dispatcher Schedule to each delivery workflow it starts.
   */
  readonly webhookRetry: {
    readonly initialIntervalMs: number;
    readonly maximumIntervalMs: number;
    readonly maximumAttempts: number;
  };
  /** The HTTP server's slow-client bounds (NF_HEADERS_TIMEOUT_MS, NF_REQUEST_TIMEOUT_MS, NF_KEEP_ALIVE_TIMEOUT_MS). */
  readonly http: {
    readonly headersTimeoutMs: number;
    readonly requestTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
  };
  /**
   * Unauthenticated requests per minute per client address, per API process (NF_ANON_RATE_LIMIT;
   * 0 = not limited). The client address is the socket's unless NF_TRUST_PROXY names a proxy in front.
   */
  readonly anonRateLimitPerMinute: number;
  /** Trust X-Forwarded-For from the one proxy in front (its last hop only): NF_TRUST_PROXY=true. */
  readonly trustProxy: boolean;
  /** NF_WORKER_HEALTH_PORT: the worker serves GET /readyz on NF_HOST at this port; absent = no server. */
  readonly workerHealthPort?: number;
  /**
   * The settler (docs/operators.md §Settling): a Temporal Schedule the worker ensures, every
   * `intervalMs` (0: the worker creates no schedule), settles operations whose workflow closed
   * without recording its end, or that have no workflow `graceMs` after they were accepted.
   */
  readonly settle: {
    readonly intervalMs: number;
    readonly graceMs: number;
  };
  /**
   * The cluster monitor (docs/operators.md §The cluster monitor): one workflow per cluster reads
   * Ceph every `intervalMs` (NF_MONITOR_INTERVAL_MS, default 30 s; 0: no monitor is started) and
   * continues as new after `roundsPerRun` rounds (NF_MONITOR_ROUNDS_PER_RUN) so its history stays bounded.
   */
  readonly monitor: {
    readonly intervalMs: number;
    readonly roundsPerRun: number;
    /** NF_MONITOR_ENSURE_AT_START (default true): the worker starts a monitor for every cluster that has none. */
    readonly ensureAtStart: boolean;
  };
  /**
   * NF_API_LIVENESS_MS: an API process refreshes its api_instances row every third of this; an
   * Idempotency-Key claim whose process was not seen for this long (died, or stalled) is taken over
   * by a retry (docs/api.md §Idempotency).
   */
  readonly apiLivenessMs: number;
  /**
   * NF_PRECHECK_TIMEOUT_MS: how long a request that starts an operation waits for the dry run's
   * reading of the live state it refuses on synchronously (a reboot's `ceph osd ok-to-stop`); past
   * it the operation starts and its own preflight gate decides (docs/api.md §Conflicts).
   */
  readonly precheckTimeoutMs: number;
  /**
   * The package deployer (docs/clusters.md §Deployers). Absent = every default: the host's own apt
   * sources, Ceph's default mon port 3300 and bind range.
   */
  readonly cephPackages?: CephPackagesConfig;
  /** Extra trusted loopback-only mode knobs for tests are not configuration: tests build Config directly. */
}

export interface CephPackagesConfig {
  /**
   * NF_CEPH_APT_SOURCES: release → one apt source line, e.g. `{"tentacle":"deb [trusted=yes]
   * file:/srv/nflab/apt/tentacle ./"}`. A release without one installs from the host's own sources.
   */
  readonly aptSources: Readonly<Record<string, string>>;
  /** NF_CEPH_MON_PORT_BASE: the i-th mon placed listens on msgr2 port base+i; null = 3300 for every mon. */
  readonly monPortBase: number | null;
  /** NF_CEPH_BIND_PORT_RANGE "lo-hi": ms_bind_port_min/max of every daemon; null = Ceph's default. */
  readonly bindPortRange: readonly [number, number] | null;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  const v = Number(raw);
  if (v < min || v > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${v}`);
  return v;
}

/**
 * The period of a Temporal Schedule the worker creates, in ms: 0 (no schedule) or whole seconds, since
 * Temporal refuses an interval below one second ("interval is too small": a worker would then run
 * without its schedule, logging only a warning) and truncates a longer one to whole seconds (found
 * on the release lab).
 */
function scheduleEvery(env: Env, name: string, def: number, max: number): number {
  const v = int(env, name, def, 0, max);
  if (v !== 0 && v % 1_000 !== 0) {
    throw new ConfigError(
      `${name} must be 0 (none) or whole seconds (1000, 2000, …): a Temporal Schedule runs at most once a second, got ${v}`,
    );
  }
  return v;
}

function num(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max) {
    throw new ConfigError(`${name} must be a number between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  }
  return v;
}

/** NF_PUBLIC_URL (an http(s) URL without query or fragment; a trailing slash is dropped), else the listen address. */
export function publicUrlFrom(raw: string | undefined, host: string, port: number): string {
  if (raw === undefined || raw === '') return `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('NF_PUBLIC_URL must be an absolute http(s) URL, e.g. https://api.example.com');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username) {
    throw new ConfigError('NF_PUBLIC_URL must be an http(s) URL without credentials, query or fragment');
  }
  return url.href.replace(/\/+$/, '');
}

function str(env: Env, name: string, def?: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (def === undefined) throw new ConfigError(`${name} is required`);
    return def;
  }
  return raw;
}

/** Parses NF_WEBHOOK_ALLOW_CIDRS ("10.1.0.0/16,fd00:1::/64"); throws ConfigError on a bad entry. */
function parseAllowCidrs(raw: string | undefined): string[] {
  if (!raw?.trim()) return [];
  return raw.split(',').map((s) => {
    const cidr = s.trim();
    const [addr, bits] = cidr.split('/');
    const family = isIP(addr ?? '');
    const n = Number(bits);
    if (!family || !Number.isInteger(n) || n < 0 || n > (family === 4 ? 32 : 128)) {
      throw new ConfigError(`NF_WEBHOOK_ALLOW_CIDRS: "${cidr}" is not a CIDR (address/bits)`);
    }
    return cidr;
  });
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(raw)}`);
}

/** NF_CEPH_APT_SOURCES, NF_CEPH_MON_PORT_BASE, NF_CEPH_BIND_PORT_RANGE. */
export function parseCephPackagesConfig(env: Env): CephPackagesConfig {
  const aptSources: Record<string, string> = {};
  const raw = env.NF_CEPH_APT_SOURCES;
  if (raw !== undefined && raw !== '') {
    let doc: unknown;
    try {
      doc = JSON.parse(raw);
    } catch {
      throw new ConfigError('NF_CEPH_APT_SOURCES must be a JSON object (release → apt source line)');
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
      throw new ConfigError('NF_CEPH_APT_SOURCES must be a JSON object (release → apt source line)');
    for (const [release, line] of Object.entries(doc as Record<string, unknown>)) {
      if (
        !/^[a-z]+$/.test(release) ||
        typeof line !== 'string' ||
        !/^deb(-src)? \S.*$/.test(line) ||
        /[\n\r]/.test(line)
      )
        throw new ConfigError(`NF_CEPH_APT_SOURCES: ${JSON.stringify(release)} must map to one "deb …" source line`);
      aptSources[release] = line;
    }
  }
  const monPortBase = env.NF_CEPH_MON_PORT_BASE ? int(env, 'NF_CEPH_MON_PORT_BASE', 0, 1, 65000) : null;
  let bindPortRange: [number, number] | null = null;
  const range = env.NF_CEPH_BIND_PORT_RANGE;
  if (range !== undefined && range !== '') {
    const m = /^(\d+)-(\d+)$/.exec(range);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m ? Number(m[2]) : NaN;
    if (!m || lo < 1 || hi > 65535 || lo > hi)
      throw new ConfigError(`NF_CEPH_BIND_PORT_RANGE must be "lo-hi" (1-65535, lo ≤ hi), got ${JSON.stringify(range)}`);
    bindPortRange = [lo, hi];
  }
  return { aptSources, monPortBase, bindPortRange };
}

export function parseSecretKey(raw: string, name = 'NF_SECRET_KEY'): Buffer {
  let key: Buffer;
  if (/^[0-9a-fA-F]{64}$/.test(raw)) key = Buffer.from(raw, 'hex');
  else key = Buffer.from(raw, 'base64');
  if (key.length !== 32) {
    throw new ConfigError(`${name} must be 32 bytes, as 64 hex characters or base64 (got ${key.length} bytes)`);
  }
  return key;
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = str(env, 'DATABASE_URL');
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  const logLevel = str(env, 'NF_LOG_LEVEL', 'info');
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`NF_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const host = str(env, 'NF_HOST', '127.0.0.1');
  const port = int(env, 'PORT', 8080, 0, 65535);
  const config: Config = {
    host,
    port,
    publicUrl: publicUrlFrom(env.NF_PUBLIC_URL, host, port),
    databaseUrl,
    temporal: {
      address: str(env, 'TEMPORAL_ADDRESS', '127.0.0.1:7233'),
      namespace: str(env, 'TEMPORAL_NAMESPACE', 'default'),
      taskQueue: str(env, 'TEMPORAL_TASK_QUEUE', 'nodefoundry'),
      uiUrl: str(env, 'TEMPORAL_UI_URL', 'http://127.0.0.1:8233').replace(/\/+$/, ''),
    },
    secretKey: parseSecretKey(str(env, 'NF_SECRET_KEY')),
    dataDir: str(env, 'NF_DATA_DIR', '.data'),
    sandboxSpeed: num(env, 'NF_SANDBOX_SPEED', 1, 0, 1000),
    pollIntervalMs: int(env, 'NF_POLL_INTERVAL_MS', 2000, 10, 600_000),
    waits: {
      powerMs: int(env, 'NF_WAIT_POWER_MS', 300_000, 100, 86_400_000),
      sshMs: int(env, 'NF_WAIT_SSH_MS', 900_000, 100, 86_400_000),
      cephMs: int(env, 'NF_WAIT_CEPH_MS', 3_600_000, 100, 86_400_000),
    },
    drainSlotsPerCluster: int(env, 'NF_DRAIN_SLOTS', 2, 1, 64),
    ipmitoolPath: str(env, 'NF_IPMITOOL', 'ipmitool'),
    sshReadyTimeoutMs: int(env, 'NF_SSH_READY_TIMEOUT_MS', 10_000, 100, 600_000),
    logLevel: logLevel as Config['logLevel'],
    allowLocalNodeAddresses: bool(env, 'NF_ALLOW_LOCAL_ADDRESSES', false),
    http: {
      headersTimeoutMs: int(env, 'NF_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
      // Above the slowest answer we give on purpose: a dry run waits up to 60 s for its plan.
      requestTimeoutMs: int(env, 'NF_REQUEST_TIMEOUT_MS', 90_000, 100, 3_600_000),
      keepAliveTimeoutMs: int(env, 'NF_KEEP_ALIVE_TIMEOUT_MS', 5_000, 100, 600_000),
    },
    anonRateLimitPerMinute: int(env, 'NF_ANON_RATE_LIMIT', 300, 0, 1_000_000),
    trustProxy: bool(env, 'NF_TRUST_PROXY', false),
    ...(env.NF_WORKER_HEALTH_PORT ? { workerHealthPort: int(env, 'NF_WORKER_HEALTH_PORT', 0, 0, 65535) } : {}),
    apiLivenessMs: int(env, 'NF_API_LIVENESS_MS', 15_000, 1_000, 300_000),
    precheckTimeoutMs: int(env, 'NF_PRECHECK_TIMEOUT_MS', 15_000, 100, 120_000),
    settle: {
      intervalMs: scheduleEvery(env, 'NF_SETTLE_INTERVAL_MS', 60_000, 86_400_000),
      graceMs: int(env, 'NF_SETTLE_GRACE_MS', 60_000, 0, 86_400_000),
    },
    monitor: {
      intervalMs: int(env, 'NF_MONITOR_INTERVAL_MS', 30_000, 0, 86_400_000),
      roundsPerRun: int(env, 'NF_MONITOR_ROUNDS_PER_RUN', 100, 1, 10_000),
      ensureAtStart: bool(env, 'NF_MONITOR_ENSURE_AT_START', true),
    },
    cephPackages: parseCephPackagesConfig(env),
    webhookAllowCidrs: parseAllowCidrs(env.NF_WEBHOOK_ALLOW_CIDRS),
    webhookDispatchMs: scheduleEvery(env, 'NF_WEBHOOK_DISPATCH_MS', 2_000, 3_600_000),
    webhookRetry: {
      initialIntervalMs: int(env, 'NF_WEBHOOK_RETRY_INITIAL_MS', 1_000, 10, 3_600_000),
      maximumIntervalMs: int(env, 'NF_WEBHOOK_RETRY_MAX_INTERVAL_MS', 60_000, 10, 3_600_000),
      maximumAttempts: int(env, 'NF_WEBHOOK_MAX_ATTEMPTS', 8, 1, 100),
    },
  };
  if (config.webhookRetry.maximumIntervalMs < config.webhookRetry.initialIntervalMs) {
    throw new ConfigError('NF_WEBHOOK_RETRY_MAX_INTERVAL_MS must be at least NF_WEBHOOK_RETRY_INITIAL_MS');
  }
  if (config.http.requestTimeoutMs < config.http.headersTimeoutMs) {
    throw new ConfigError('NF_REQUEST_TIMEOUT_MS must be at least NF_HEADERS_TIMEOUT_MS');
  }
  return deepFreeze(config);
}

/** The shortest interval the sandbox speed knob makes of the monitor's (a monitor must not spin). */
export const MONITOR_SANDBOX_FLOOR_MS = 250;

/**
 * The time between a cluster monitor's rounds (docs/operators.md §The cluster monitor). A live
 * cluster's is NF_MONITOR_INTERVAL_MS as is. A sandbox cluster's follows the sandbox speed knob like
 * every simulated delay: NF_MONITOR_INTERVAL_MS × NF_SANDBOX_SPEED (0.1: ten times as often as the
 * configured interval; 0, the instant sandbox: as often as the floor), never below
 * MONITOR_SANDBOX_FLOOR_MS unless the configured interval itself is shorter. 0 stays 0 (no monitor).
 */
export function monitorIntervalMs(
  config: Pick<Config, 'sandboxSpeed'> & { readonly monitor: Pick<Config['monitor'], 'intervalMs'> },
  environment: 'live' | 'sandbox',
): number {
  const configured = config.monitor.intervalMs;
  if (configured === 0 || environment === 'live') return configured;
  const scaled = Math.round(configured * config.sandboxSpeed);
  return Math.max(Math.min(configured, MONITOR_SANDBOX_FLOOR_MS), scaled);
}

/** A fresh random key, for `npm start`'s generated data directory and for tests. */
export function generateSecretKey(): string {
  return randomBytes(32).toString('hex');
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Buffer.isBuffer(o)) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
