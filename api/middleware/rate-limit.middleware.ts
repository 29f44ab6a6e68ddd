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
 * Fixed one-minute windows per account, counted in PostgreSQL so the limit holds across any number
 * of API processes. Every authenticated response carries the X-RateLimit-* headers; enterprise
 * accounts are not counted and get `unlimited` in Limit and Remaining (see docs/api.md).
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
    const { count, windowStart } = await hitRateLimitWindow(deps.db, auth.accountId);
    const reset = Math.floor(windowStart.getTime() / 1000) + 60;
    ctx.set('X-RateLimit-Limit', String(limit));
    ctx.set('X-RateLimit-Remaining', String(Math.max(0, limit - count)));
    ctx.set('X-RateLimit-Reset', String(reset));
    if (count > limit) {
      const retryAfter = Math.min(60, Math.max(1, reset - Math.floor(Date.now() / 1000)));
      ctx.set('Retry-After', String(retryAfter));
      throw new ApiError('rate_limited', `Rate limit of ${limit} requests per minute exceeded. Retry after ${retryAfter} s.`, {
        limit,
        retry_after: retryAfter,
      });
    }
    return next();
  };
}
