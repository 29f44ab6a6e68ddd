import type { Middleware } from 'koa';
import { ApiError, type ErrorCode } from '../errors';
import type { AppState } from '../context';
import { validationError } from '../schemas/validation';

export interface ErrorBody {
  error: { code: ErrorCode; message: string; request_id: string } & Record<string, unknown>;
}

const HTTP_STATUS_CODES: Record<number, ErrorCode> = {
  400: 'validation_error',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'route_not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  501: 'method_not_allowed',
  503: 'service_unavailable',
};

/**
 * Maps anything thrown to the one API error (STYLE 9): ApiError as is; ajv's ValidationError to a
 * 400 naming the field; an http-errors error that is safe to expose (router 405, Koa 4xx) to its
 * code; everything else to a 500 that says nothing about internals.
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isAjvValidationError(err)) return validationError(err.errors, 'body');
  const pgCode = err && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
  if (pgCode === '40001' || pgCode === '40P01') {
    // A deadlock or serialization victim: PostgreSQL rolled its transaction back. Never its text.
    return new ApiError('conflict', 'This request collided with a concurrent request on the same resources; retry it.');
  }
  if (err && typeof err === 'object') {
    const e = err as { status?: unknown; expose?: unknown; message?: unknown };
    const code = typeof e.status === 'number' && e.expose === true ? HTTP_STATUS_CODES[e.status] : undefined;
    if (code) return new ApiError(code, typeof e.message === 'string' ? e.message : code);
  }
  return new ApiError(
    'internal_error',
    'An internal error occurred. Retry later, or contact support with the request id.',
  );
}

function isAjvValidationError(err: unknown): err is { errors: import('ajv').ErrorObject[] } {
  return (
    !!err &&
    typeof err === 'object' &&
    (err as { ajv?: unknown }).ajv === true &&
    (err as { validation?: unknown }).validation === true &&
    Array.isArray((err as { errors?: unknown }).errors)
  );
}

export function errorBody(err: ApiError, requestId: string): ErrorBody {
  // Details first so they can never overwrite code, message or request_id.
  return { error: { ...err.details, code: err.code, message: err.message, request_id: requestId } };
}

/**
 * The one error middleware. Also turns what fell through the router into errors: no route → 404
 * `route_not_found`; a route without this method → 405 `method_not_allowed` (with Allow).
 */
export function errorHandler(): Middleware<AppState> {
  return async (ctx, next) => {
    try {
      await next();
      if ((ctx.status === 404 || ctx.status === 405 || ctx.status === 501) && ctx.body == null) {
        if (ctx.status === 404) throw new ApiError('route_not_found', `No route ${ctx.method} ${ctx.path}.`);
        throw new ApiError('method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}.`);
      }
    } catch (err) {
      const apiErr = toApiError(err);
      if (!(err instanceof ApiError)) {
        // Unexpected: the stack goes to the log (only), keyed by the request id the client got.
        ctx.state.logger.error('request failed', {
          code: apiErr.code,
          err: err instanceof Error ? (err.stack ?? err.message) : String(err),
        });
      } else if (apiErr.status >= 500) {
        ctx.state.logger.warn('request failed', { code: apiErr.code, message: apiErr.message });
      }
      ctx.status = apiErr.status;
      ctx.body = errorBody(apiErr, ctx.state.requestId);
    }
  };
}
