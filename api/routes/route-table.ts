import Router, { type RouterMiddleware } from '@koa/router';
import type { Middleware } from 'koa';
import type { AppState } from '../context';
import { ApiError } from '../errors';
import { hasControlCharacter } from '../schemas/validation';
import type { SchemaObject } from '../schemas/common.schemas';

/** How many paths' allowed methods allowedMethodsMiddleware keeps. */
const METHODS_MEMO_SIZE = 1_000;

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

/** A route template split into segments: literal text, or a parameter (with its pattern, if any). */
interface RouteShape {
  method: string;
  parts: (string | { pattern?: RegExp })[];
}

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

  /** Path parameter patterns, compiled once. */
  private readonly regexes = new Map<string, RegExp>();
  private regexOf(pattern: string): RegExp {
    let re = this.regexes.get(pattern);
    if (!re) this.regexes.set(pattern, (re = new RegExp(pattern)));
    return re;
  }

  /**
   * The methods of the routes whose template matches `path`: `strict`, those where every path
   * parameter also matches its declared pattern; `loose`, those matching with any parameter value.
   * HEAD joins GET. (@koa/router's own allowedMethods() knows only the loose set, so
   * `/v1/clusters/import`, POST only, also advertised `/v1/clusters/{id}`'s GET and DELETE.)
   */
  methodsOf(path: string): { strict: string[]; loose: string[] } {
    const segments = path.split('/');
    for (let i = 0; i < segments.length; i++) {
      try {
        segments[i] = decodeURIComponent(segments[i]!);
      } catch {
        // Not valid percent-encoding: compared as sent.
      }
    }
    const strict = new Set<string>();
    const loose = new Set<string>();
    for (const shape of this.shapes()) {
      if (shape.parts.length !== segments.length) continue;
      let matches = true;
      let exact = true;
      for (let i = 0; i < shape.parts.length && matches; i++) {
        const part = shape.parts[i]!;
        const segment = segments[i] ?? '';
        if (typeof part === 'string') {
          if (part !== segment) matches = false;
        } else if (segment === '') {
          matches = false;
        } else if (part.pattern !== undefined && !part.pattern.test(segment)) {
          exact = false;
        }
      }
      if (!matches) continue;
      loose.add(shape.method);
      if (exact) strict.add(shape.method);
    }
    const list = (set: Set<string>): string[] => (set.has('GET') ? [...set, 'HEAD'] : [...set]);
    return { strict: list(strict), loose: list(loose) };
  }

  /**
   * Every route's template split once (issue 14: splitting and matching every template's text on
   * every request showed in the API's CPU profile): a literal segment, or a parameter with its
   * compiled pattern. Rebuilt when a route is added after the first request.
   */
  private compiled: { count: number; shapes: RouteShape[] } = { count: -1, shapes: [] };
  private shapes(): RouteShape[] {
    if (this.compiled.count === this.specs.length) return this.compiled.shapes;
    const shapes = this.specs.map((spec) => ({
      method: spec.method.toUpperCase(),
      parts: spec.path.split('/').map((part): string | { pattern?: RegExp } => {
        const param = /^\{(\w+)\}$/.exec(part)?.[1];
        if (param === undefined) return part;
        const pattern = spec.pathParams?.find((p) => p.name === param)?.pattern;
        return pattern === undefined ? {} : { pattern: this.regexOf(pattern) };
      }),
    }));
    this.compiled = { count: this.specs.length, shapes };
    return shapes;
  }

  /**
   * Before the routes, 405 (OPTIONS: 200) with `Allow` for a method the path does not have, when some
   * route's template matches the path with every parameter matching its pattern: `GET
   * /v1/clusters/import` is a 405 naming POST, not `/v1/clusters/{id}`'s 404 for a cluster "import".
   * After the routes, a request none answered on a path whose shape some route has (its parameter
   * matching no pattern, e.g. `PUT /v1/clusters/xyz`) gets the same answer with those routes' methods;
   * a path no route has stays a 404 `route_not_found`. The error handler turns the 405 into
   * `method_not_allowed`.
   */
  allowedMethodsMiddleware(): Middleware<AppState> {
    const answer = (ctx: Parameters<Middleware<AppState>>[0], allowed: string[]): void => {
      ctx.set('Allow', allowed.join(', '));
      if (ctx.method === 'OPTIONS') {
        ctx.status = 200;
        ctx.body = '';
      } else {
        ctx.status = 405;
      }
    };
    // The answer for a path depends on the path only: kept for the paths seen last (issue 14: the
    // check showed in the list pages' profile), at most METHODS_MEMO_SIZE of them.
    const memo = new Map<string, { count: number; methods: { strict: string[]; loose: string[] } }>();
    const methodsOf = (path: string) => {
      const kept = memo.get(path);
      if (kept && kept.count === this.specs.length) return kept.methods;
      const methods = this.methodsOf(path);
      if (memo.size >= METHODS_MEMO_SIZE) memo.clear();
      memo.set(path, { count: this.specs.length, methods });
      return methods;
    };
    return async (ctx, next) => {
      const { strict, loose } = methodsOf(ctx.path);
      if (strict.length > 0 && !strict.includes(ctx.method)) return answer(ctx, strict);
      await next();
      if (ctx.status !== 404 || ctx.body != null || loose.length === 0) return;
      answer(ctx, loose);
    };
  }
}
