import type { Middleware } from 'koa';
import { findKeyByHash, touchApiKey } from '../../db/repositories/api-keys.repository';
import { environmentOf, hashApiKey, kindOfKey } from '../../lib/secrets';
import type { ApiDeps, AppState } from '../context';
import { ApiError } from '../errors';

/** Read-only keys may only read. */
const READ_METHODS = new Set(['GET', 'HEAD']);
/** last_used_at is written at most once a minute per key (the SQL checks it too, across processes). */
const TOUCH_INTERVAL_MS = 60_000;

/** The key from `Authorization: Bearer <key>`, or undefined when the header is absent or malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer ([^\s]+)$/i.exec(header?.trim() ?? '');
  return m?.[1];
}

/**
 * Authenticates the API key: only its SHA-256 is looked up, so the database never holds a usable
 * key. Missing, malformed, unknown and revoked keys all get the same 401 (no oracle for which).
 */
export function authenticate(deps: Pick<ApiDeps, 'db' | 'keyCache'>): Middleware<AppState> {
  const lastTouched = new Map<string, number>();
  const cache = deps.keyCache;
  return async (ctx, next) => {
    const token = bearerToken(ctx.get('Authorization') || undefined);
    const kind = token === undefined ? undefined : kindOfKey(token);
    if (token === undefined || kind === undefined) {
      if (ctx.state.anonymousLimited) throw unauthenticatedLimit(ctx);
      ctx.set('WWW-Authenticate', 'Bearer realm="nodefoundry"');
      throw new ApiError('unauthorized', 'Missing or invalid API key. Send Authorization: Bearer nf_sk_….');
    }
    const keyHash = hashApiKey(token);
    // A valid key's lookup kept by this process (api/key-cache.ts: emptied by every key or plan
    // change, in any process, and unused while it cannot hear of them), else one round trip.
    let found = cache?.get(keyHash);
    if (!found) {
      const ticket = cache?.ticket();
      found = await findKeyByHash(deps.db, keyHash);
      if (cache && ticket !== undefined && found && found.key.revoked_at === null) cache.set(keyHash, found, ticket);
    }
    if (!found || found.key.revoked_at !== null || found.key.kind !== kind) {
      if (ctx.state.anonymousLimited) throw unauthenticatedLimit(ctx);
      ctx.set('WWW-Authenticate', 'Bearer realm="nodefoundry", error="invalid_token"');
      throw new ApiError('unauthorized', 'Missing or invalid API key. Send Authorization: Bearer nf_sk_….');
    }
    const { key, plan } = found;
    ctx.state.auth = {
      accountId: key.account_id,
      environment: environmentOf(key.kind),
      keyKind: key.kind,
      keyId: key.id,
      plan,
    };

    const now = Date.now();
    if ((lastTouched.get(key.id) ?? 0) + TOUCH_INTERVAL_MS <= now) {
      lastTouched.set(key.id, now);
      if (lastTouched.size > 10_000) lastTouched.clear();
      await touchApiKey(deps.db, key.id);
    }

    await next();
  };
}

/**
 * Read-only keys may only read: anything else is 403. Runs after the rate limit, so a refused write
 * counts against the key's allowance and its answer carries the X-RateLimit-* headers like any other.
 */
export function requireWritableKey(): Middleware<AppState> {
  return async (ctx, next) => {
    if (ctx.state.auth?.keyKind === 'ro' && !READ_METHODS.has(ctx.method)) {
      throw new ApiError('forbidden', 'This is a read-only key (nf_sk_ro_): only GET requests are allowed.');
    }
    await next();
  };
}

/** A bad key from an address over its unauthenticated allowance (anonymousRateLimit): 429, not 401. */
function unauthenticatedLimit(ctx: { set(name: string, value: string): void }): ApiError {
  const retryAfter = Math.max(1, 60 - (Math.floor(Date.now() / 1000) % 60));
  ctx.set('Retry-After', String(retryAfter));
  return new ApiError(
    'rate_limited',
    `Too many unauthenticated requests from this address. Retry after ${retryAfter} s.`,
    { retry_after: retryAfter },
  );
}
