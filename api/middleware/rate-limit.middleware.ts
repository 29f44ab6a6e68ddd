import type { Middleware } from 'koa';
import type { Account } from '../../db/database';
import { hitRateLimitWindow } from '../../db/repositories/rate-limits.repository';
import type { ApiDeps, AppState } from '../context';
import { authOf } from '../context';
import { ApiError } from '../errors';

/** Requests per minute per account and plan; null = not limited. */
export const PLAN_LIMITS: Record<Account['plan'], number | null> = {
  starter: 300,
  professional: 600,
  enterprise: null,
};

/**
 * Fixed one-minute windows per account and key kind (live, test = sandbox, ro), counted in
 * PostgreSQL so the limit holds across any number of API processes. Each kind has the plan's limit
 * of its own, so a busy sandbox CI or a read-only dashboard never starves the account's live
 * requests (cancels included). Every authenticated response carries the X-RateLimit-* headers of its
 * key kind's counter; enterprise accounts are not counted and get `unlimited` (see docs/api.md).
 */
export function rateLimit(deps: Pick<ApiDeps, 'db'>): Middleware<AppState> {
  return async (ctx, next) => {
    const auth = authOf(ctx);
    const limit = PLAN_LIMITS[auth.plan];
    if (limit === null) {
      ctx.set('X-RateLimit-Limit', 'unlimited');
      ctx.set('X-RateLimit-Remaining', 'unlimited');
      ctx.set('X-RateLimit-Reset', String(Math.floor(Date.now() / 60_000) * 60 + 60));
      return next();
    }
    const { count, windowStart } = await hitRateLimitWindow(deps.db, auth.accountId, auth.keyKind);
    const reset = Math.floor(windowStart.getTime() / 1000) + 60;
    ctx.set('X-RateLimit-Limit', String(limit));
    ctx.set('X-RateLimit-Remaining', String(Math.max(0, limit - count)));
    ctx.set('X-RateLimit-Reset', String(reset));
    if (count > limit) {
      const retryAfter = Math.min(60, Math.max(1, reset - Math.floor(Date.now() / 1000)));
      ctx.set('Retry-After', String(retryAfter));
      throw new ApiError(
        'rate_limited',
        `Rate limit of ${limit} requests per minute exceeded. Retry after ${retryAfter} s.`,
        {
          limit,
          retry_after: retryAfter,
        },
      );
    }
    return next();
  };
}

/**
 * Unauthenticated requests (no key, a bad key, a route that needs none but the probes) per client
 * address, counted in this process only: a flood of them must cost no database writes. Fixed
 * one-minute windows in a table of at most MAX_ADDRESSES entries; addresses beyond that share one
 * overflow counter, so the table's memory is bounded whatever the number of addresses.
 */
export class AnonymousLimiter {
  static readonly MAX_ADDRESSES = 10_000;
  private window = 0;
  private readonly counts = new Map<string, number>();

  constructor(
    readonly limit: number,
    private readonly now: () => number = Date.now,
  ) {}

  private roll(): number {
    const w = Math.floor(this.now() / 60_000);
    if (w !== this.window) {
      this.window = w;
      this.counts.clear();
    }
    return w;
  }

  private slot(address: string): string {
    return this.counts.has(address) || this.counts.size < AnonymousLimiter.MAX_ADDRESSES ? address : '*overflow*';
  }

  /** Whether the address has used up this window's allowance. */
  exhausted(address: string): boolean {
    this.roll();
    return (this.counts.get(this.slot(address)) ?? 0) >= this.limit;
  }

  hit(address: string): void {
    this.roll();
    const s = this.slot(address);
    this.counts.set(s, (this.counts.get(s) ?? 0) + 1);
  }

  /** Requests left to the address in the current window (0 when used up). */
  remaining(address: string): number {
    this.roll();
    return Math.max(0, this.limit - (this.counts.get(this.slot(address)) ?? 0));
  }

  /** Unix time (seconds) when the current window ends. */
  resetAt(): number {
    return (this.roll() + 1) * 60;
  }

  /** Seconds until the current window ends. */
  retryAfter(): number {
    const w = this.roll();
    return Math.min(60, Math.max(1, Math.ceil(((w + 1) * 60_000 - this.now()) / 1000)));
  }

  get size(): number {
    return this.counts.size;
  }
}

/** Liveness and readiness probes: never limited (a load balancer polls them from one address). */
export const PROBES: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

/**
 * App-level, before the routes: an address over its unauthenticated allowance gets 429 for a
 * request without credentials at once, and for one with credentials that turn out to be bad (the
 * auth middleware asks `anonymousLimited`); valid keys behind the same address are not affected.
 * A request that ends without an authenticated caller (no key, a bad key, an unauthenticated route,
 * an unknown route, a 405) counts against its address and carries the address's X-RateLimit-*
 * headers; an authenticated one carries its key's (rateLimit). With the limiter off
 * (NF_ANON_RATE_LIMIT=0) they say `unlimited`. The probes are outside the limiter and carry none.
 */
export function anonymousRateLimit(limiter: AnonymousLimiter | null): Middleware<AppState> {
  return async (ctx, next) => {
    if (PROBES.has(ctx.path)) return next();
    const address = ctx.ip || 'unknown';
    const over = limiter?.exhausted(address) ?? false;
    ctx.state.anonymousLimited = over;
    try {
      if (limiter && over && !ctx.get('Authorization')) {
        const err = anonymousLimitError(limiter);
        ctx.set('Retry-After', String(err.details.retry_after));
        throw err;
      }
      await next();
    } finally {
      if (!ctx.state.auth) {
        if (limiter && !over) limiter.hit(address);
        setAddressHeaders(ctx, limiter, address);
      }
    }
  };
}

function setAddressHeaders(
  ctx: { set(name: string, value: string): void },
  limiter: AnonymousLimiter | null,
  address: string,
): void {
  if (!limiter) {
    ctx.set('X-RateLimit-Limit', 'unlimited');
    ctx.set('X-RateLimit-Remaining', 'unlimited');
    ctx.set('X-RateLimit-Reset', String(Math.floor(Date.now() / 60_000) * 60 + 60));
    return;
  }
  ctx.set('X-RateLimit-Limit', String(limiter.limit));
  ctx.set('X-RateLimit-Remaining', String(limiter.remaining(address)));
  ctx.set('X-RateLimit-Reset', String(limiter.resetAt()));
}

export function anonymousLimitError(limiter: AnonymousLimiter): ApiError {
  const retryAfter = limiter.retryAfter();
  return new ApiError(
    'rate_limited',
    `Too many unauthenticated requests from this address (limit ${limiter.limit} per minute). Retry after ${retryAfter} s.`,
    { limit: limiter.limit, retry_after: retryAfter },
  );
}
