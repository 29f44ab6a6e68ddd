import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Client } from '@temporalio/client';
import { createApp } from '../../api/app';
import { startApiInstance } from '../../api/instance';
import { KeyCache } from '../../api/key-cache';
import type { Db } from '../../db/database';
import { createAccount, type Plan } from '../../db/repositories/accounts.repository';
import { createApiKey } from '../../db/repositories/api-keys.repository';
import { createApiClient, type ApiClient } from '../../lib/client';
import type { Config } from '../../lib/config';
import { newId } from '../../lib/ids';
import { createLogger } from '../../lib/logger';
import type { KeyKind } from '../../lib/secrets';
import { connectTemporalClient } from '../../lib/temporal';
import { testConfig } from './config';
import { testDb } from './db';

export interface TestAccount {
  accountId: string;
  /** One key of each kind, by kind. */
  keys: Record<KeyKind, string>;
  keyIds: Record<KeyKind, string>;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or null for an empty body. */
  body: any;
  text: string;
}

export interface RequestOptions {
  /** The bearer key; null sends no Authorization header. */
  key?: string | null;
  /** JSON-encoded with Content-Type: application/json. */
  body?: unknown;
  /** Sent as is (with the headers you give). */
  rawBody?: string;
  headers?: Record<string, string>;
}

export interface TestApi {
  base: string;
  db: Db;
  config: Config;
  client: Client;
  /** The app's kept key lookups (api/key-cache.ts). */
  keyCache: KeyCache;
  /** This app's api_instances id (registered and refreshed as in api/main.ts; deleted on close). */
  instanceId: string;
  /** Every log line the app wrote (JSON strings). */
  logs: string[];
  /** The default account (enterprise plan: never rate limited) with live, test and ro keys. */
  account: TestAccount;
  newAccount(plan?: Plan): Promise<TestAccount>;
  request(method: string, path: string, options?: RequestOptions): Promise<ApiResponse>;
  /**
   * The typed client (lib/client, generated from the OpenAPI document) on this API, with a key
   * (default: the default account's test key; null sends none). Paths, bodies and answers are
   * type-checked against the document, so a drift between document and server fails these tests.
   */
  typed(key?: string | null): ApiClient;
  close(): Promise<void>;
}

/**
 * The real app (createApp with the run's PostgreSQL and a real Temporal client on this file's own
 * task queue), served on an ephemeral port. No worker runs: started workflows simply wait.
 */
export async function startTestApi(
  overrides: Record<string, string> = {},
  options: {
    dbPoolSize?: number;
    /**
     * Benches: log as production does (config.logLevel, e.g. one `request` line per request at info)
     * into a sink that drops the lines, instead of keeping every debug line in `logs`.
     */
    productionLogging?: boolean;
  } = {},
): Promise<TestApi> {
  const config = testConfig({ NF_LOG_LEVEL: 'debug', ...overrides });
  // The tests' pool is small (many files share the server); benches pass production's (createDb: 10).
  const db = testDb(options.dbPoolSize);
  const client = await connectTemporalClient(config);
  const logs: string[] = [];
  const logger = options.productionLogging
    ? createLogger(config.logLevel, { component: 'api' }, () => {})
    : createLogger('debug', { component: 'api' }, (line) => logs.push(line));
  const instance = await startApiInstance(db, config.apiLivenessMs, logger);
  // Its own lines (listening, lost) are not request lines: kept out of `logs`.
  const keyCache = new KeyCache({ databaseUrl: config.databaseUrl, db, logger: createLogger('silent') });
  await keyCache.start();
  const app = createApp({ db, temporal: client, config, logger, instanceId: instance.id, keyCache });
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const newAccount = async (plan: Plan = 'enterprise'): Promise<TestAccount> => {
    const account = await createAccount(db, { name: `api-test-${newId('account')}`, plan });
    const keys = {} as Record<KeyKind, string>;
    const keyIds = {} as Record<KeyKind, string>;
    for (const kind of ['live', 'test', 'ro'] as const) {
      const { apiKey, secret } = await createApiKey(db, { accountId: account.id, kind, name: `${kind} key` });
      keys[kind] = secret;
      keyIds[kind] = apiKey.id;
    }
    return { accountId: account.id, keys, keyIds };
  };
  const account = await newAccount();

  const request = async (method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> => {
    const headers: Record<string, string> = { ...options.headers };
    const key = options.key === undefined ? account.keys.test : options.key;
    if (key !== null) headers.authorization = `Bearer ${key}`;
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(base + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = null;
    if (text !== '' && (res.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(text);
    return { status: res.status, headers: res.headers, body: parsed, text };
  };

  return {
    base,
    db,
    config,
    client,
    keyCache,
    instanceId: instance.id,
    logs,
    account,
    newAccount,
    request,
    typed: (key) => createApiClient({ baseUrl: base, key: key === undefined ? account.keys.test : (key ?? undefined) }),
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await keyCache.close();
      await instance.stop();
      await client.connection.close();
      await db.destroy();
    },
  };
}

// Live addresses are unique across accounts and the database lives for the whole run, so each
// module load picks its own random /24 and test files do not collide on addresses.
const net24 = `${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;
let seq = 0;

/** A valid registration body with addresses unique in this run (pass a fresh SSH key). */
export function nodeBody(privateKey: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  seq += 1;
  if (seq > 254) throw new Error('nodeBody: out of addresses in this test file');
  return {
    hostname: `storage-${seq}`,
    ip_address: `10.${net24}.${seq}`,
    ipmi_address: `11.${net24}.${seq}`,
    ipmi_username: 'admin',
    ipmi_password: `pw-${seq}-Zq8x`,
    ssh_user: 'nodefoundry',
    ssh_private_key: privateKey,
    ...overrides,
  };
}
