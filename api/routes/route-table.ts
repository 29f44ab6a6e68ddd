import Router, { type RouterMiddleware } from '@koa/router';
import type { Middleware } from 'koa';
import type { AppState } from '../context';
import { ApiError } from '../errors';
import { hasControlCharacter } from '../schemas/validation';
import type { SchemaObject } from '../schemas/common.schemas';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * One route, described once: the router is built from it and so is the OpenAPI document, and its
 * query/body schemas are the very objects the handler validates with. A route cannot be served
 * without being documented, nor documented with another schema than the one enforced.
 */
export interface RouteSpec {
  method: HttpMethod;
  /** OpenAPI path template, e.g. /v1/nodes/{id}. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /** Whether the route requires an API key (and so is rate limited and accepts Idempotency-Key). */
  auth: boolean;
  pathParams?: { name: string; pattern: string; description: string }[];
  query?: object;
  body?: object;
  /** Whether a body must be sent (default: true when `body` is set). */
  bodyRequired?: boolean;
  responses: Record<number, { description: string; schema?: SchemaObject; contentType?: string }>;
  /** The route reads `X-Confirm-Delete: true` (required, or only without `dry_run=true`). */
  confirmDelete?: { required: boolean };
}

export type Handler = RouterMiddleware<AppState>;

export class RouteTable {
  readonly router = new Router<AppState>();
  readonly specs: RouteSpec[] = [];

  /** `authChain` runs before every handler of a route with `auth: true` (auth, rate limit, body, idempotency). */
  constructor(private readonly authChain: Middleware<AppState>[]) {}

  add(spec: RouteSpec, handler: Handler): this {
    this.specs.push(spec);
    const name: Middleware<AppState> = (ctx, next) => {
      ctx.state.routeName = spec.path;
      // Path parameters pass the same control-character check as bodies and query strings.
      for (const [param, value] of Object.entries((ctx as { params?: Record<string, string> }).params ?? {})) {
        if (hasControlCharacter(value))
          throw new ApiError('validation_error', `${param} must not contain control characters.`, { field: param });
      }
      return next();
    };
    const chain = [name, ...(spec.auth ? this.authChain : []), handler] as Handler[];
    this.router.register(spec.path.replace(/\{(\w+)\}/g, ':$1'), [spec.method.toUpperCase()], chain);
    return this;
  }
}
