import type { Middleware } from 'koa';
import { newId } from '../../lib/ids';
import type { Logger } from '../../lib/logger';
import type { AppState } from '../context';

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's X-Request-ID when it is safe to echo and log, else a fresh `req_…`. */
export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && SANE_REQUEST_ID.test(value) ? value : newId('request');
}

/**
 * Outermost middleware: gives the request its id and logger, echoes the id, and writes one access
 * log line. The line carries method, route template, status and timing, never bodies or headers
 * (they may hold credentials).
 */
export function requestContext(logger: Logger): Middleware<AppState> {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const requestId = requestIdFrom(ctx.get('X-Request-ID') || undefined);
    ctx.state.requestId = requestId;
    // The request's logger is made when something logs (most requests log only the line below,
    // which carries the same fields: issue 14, one logger less per request).
    let child: Logger | undefined;
    Object.defineProperty(ctx.state, 'logger', {
      get: () => (child ??= logger.child({ request_id: requestId })),
      set: (value: Logger) => {
        child = value;
      },
      enumerable: true,
      configurable: true,
    });
    ctx.set('X-Request-ID', requestId);
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // The same line the request's logger would write (its base fields, then request_id).
      logger.info('request', {
        request_id: requestId,
        method: ctx.method,
        route: ctx.state.routeName ?? null,
        path: ctx.path,
        status: ctx.status,
        duration_ms: Math.round(ms * 10) / 10,
        account_id: ctx.state.auth?.accountId ?? null,
        key_id: ctx.state.auth?.keyId ?? null,
      });
    }
  };
}
