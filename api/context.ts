import type { Client } from '@temporalio/client';
import type { ParameterizedContext } from 'koa';
import type { Account, Db } from '../db/database';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { Environment, KeyKind } from '../lib/secrets';
import { ApiError } from './errors';
import type { KeyCache } from './key-cache';

/** Everything the API needs, built once per process in main.ts (STYLE 5) and injected. */
export interface ApiDeps {
  db: Db;
  temporal: Client;
  config: Config;
  logger: Logger;
  /**
   * This process's api_instances id (api/instance.ts), recorded on Idempotency-Key claims so a
   * retry may take over a claim whose process died. Absent: claims are abandoned after
   * IDEMPOTENCY_STALE_CLAIM_SECONDS only.
   */
  instanceId?: string;
  /**
   * Lookups of valid API keys kept across requests, emptied whenever a key or plan changes in any
   * process (api/key-cache.ts). Absent: every request looks its key up.
   */
  keyCache?: KeyCache;
}

/** Who is calling: set by the auth middleware from the API key. */
export interface AuthState {
  accountId: string;
  environment: Environment;
  keyKind: KeyKind;
  keyId: string;
  plan: Account['plan'];
}

export interface AppState {
  /** The request id (echoed from X-Request-ID or generated); in every error body and log line. */
  requestId: string;
  /** A logger whose lines all carry the request id. */
  logger: Logger;
  /** Set by the auth middleware on authenticated routes. */
  auth?: AuthState;
  /** The parsed JSON body (undefined when the request had none), set by the body reader. */
  body?: unknown;
  /**
   * What the idempotency middleware stores for replay instead of the response body, when the body
   * holds something that must not be kept (an API key's secret).
   */
  idempotentReplayBody?: unknown;
  /** The route template that matched, for metrics and logs (never the raw path with ids). */
  routeName?: string;
  /** The client address has used up its unauthenticated allowance (anonymousRateLimit). */
  anonymousLimited?: boolean;
}

export type AppContext = ParameterizedContext<AppState>;

/** The caller of an authenticated route (the route chain guarantees the auth middleware ran). */
export function authOf(ctx: { state: AppState }): AuthState {
  if (!ctx.state.auth) throw new ApiError('unauthorized', 'Authentication required.');
  return ctx.state.auth;
}
