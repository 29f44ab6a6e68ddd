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

  /**
   * The methods a path has, for `Allow`: those of the routes whose template matches it with every
   * path parameter matching its declared pattern; only when none does, those whose template matches
   * it with any parameter value (so `PUT /v1/clusters/xyz` is still a 405 naming GET and DELETE).
   * The router's own answer merged every template matching the path's shape, so `/v1/clusters/import`
   * (POST only) also advertised `/v1/clusters/{id}`'s GET and DELETE, and "import" is no cluster id.
   */
  allowedMethods(path: string): string[] {
    const segments = path.split('/').map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
    const strict = new Set<string>();
    const loose = new Set<string>();
    for (const spec of this.specs) {
      const parts = spec.path.split('/');
      if (parts.length !== segments.length) continue;
      let shape = true;
      let exact = true;
      parts.forEach((part, i) => {
        const segment = segments[i] ?? '';
        const param = /^\{(\w+)\}$/.exec(part)?.[1];
        if (param === undefined) {
          if (part !== segment) shape = false;
          return;
        }
        if (segment === '') shape = false;
        const pattern = spec.pathParams?.find((p) => p.name === param)?.pattern;
        if (pattern !== undefined && !new RegExp(pattern).test(segment)) exact = false;
      });
      if (!shape) continue;
      const method = spec.method.toUpperCase();
      loose.add(method);
      if (exact) strict.add(method);
    }
    const methods = strict.size > 0 ? strict : loose;
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods];
  }

  /**
   * After the routes: a request no route answered, on a path that has other methods, is answered
   * with `Allow` (OPTIONS: 200 and an empty body; any other method: 405, which the error handler
   * turns into `method_not_allowed`). A path no route has stays a 404 `route_not_found`.
   */
  allowedMethodsMiddleware(): Middleware<AppState> {
    return async (ctx, next) => {
      await next();
      if (ctx.status !== 404 || ctx.body != null) return;
      const allowed = this.allowedMethods(ctx.path);
      if (allowed.length === 0) return;
      ctx.set('Allow', allowed.join(', '));
      if (ctx.method === 'OPTIONS') {
        ctx.status = 200;
        ctx.body = '';
      } else {
        ctx.status = 405;
      }
    };
  }
}
