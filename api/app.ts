import Koa from 'koa';
import type { ApiDeps, AppState } from './context';
import { authenticate, requireWritableKey } from './middleware/auth.middleware';
import { jsonBody } from './middleware/body.middleware';
import { errorHandler } from './middleware/error.middleware';
import { idempotency } from './middleware/idempotency.middleware';
import { Metrics, metricsMiddleware } from './middleware/metrics.middleware';
import { AnonymousLimiter, anonymousRateLimit, rateLimit } from './middleware/rate-limit.middleware';
import { requestContext } from './middleware/request-id.middleware';
import { addApiKeyRoutes } from './routes/api-keys.routes';
import { addClusterRoutes } from './routes/clusters.routes';
import { addEventRoutes } from './routes/events.routes';
import { addNodeRoutes } from './routes/nodes.routes';
import { addOperationRoutes } from './routes/operations.routes';
import { addOsdRoutes } from './routes/osds.routes';
import { addExpandRoutes } from './routes/expand.routes';
import { addRemoveNodeRoutes } from './routes/remove-node.routes';
import { addPoolRoutes } from './routes/pools.routes';
import { RouteTable } from './routes/route-table';
import { addSandboxRoutes } from './routes/sandbox.routes';
import { addSystemRoutes } from './routes/system.routes';
import { addUpgradeRoutes } from './routes/upgrades.routes';
import { addWebhookRoutes } from './routes/webhooks.routes';
import type { SchemaObject } from './schemas/common.schemas';
import { buildOpenApiDocument } from './schemas/openapi';
import { createHousekeeper } from './services/housekeeping.service';

export const API_VERSION = '1.0.0';

/**
 * The Koa application, without listening (main.ts does that; tests serve it on an ephemeral port).
 *
 * Order: request id and access log → metrics → the one error handler → address limiter → routes.
 * Authenticated routes then run auth (401) → rate limit (429) → read-only keys (403) → JSON body
 * (415/413/400) → Idempotency-Key → handler, which validates query and body against the same schemas the OpenAPI document shows.
 */
export function createApp(deps: ApiDeps): Koa<AppState> {
  // X-Forwarded-For is trusted only when configured (NF_TRUST_PROXY), and then only its last hop:
  // the address the one proxy in front saw. Otherwise any client could pick its own address.
  const app = new Koa<AppState>({ proxy: deps.config.trustProxy, maxIpsCount: 1 });
  const anonymous =
    deps.config.anonRateLimitPerMinute > 0 ? new AnonymousLimiter(deps.config.anonRateLimitPerMinute) : null;
  const metrics = new Metrics();
  const housekeeper = createHousekeeper(deps);

  const table = createRouteTable(deps, metrics);

  app.use(requestContext(deps.logger));
  app.use(metricsMiddleware(metrics));
  app.use(errorHandler());
  app.use(anonymousRateLimit(anonymous));
  app.use(async (_ctx, next) => {
    await next();
    housekeeper.maybeRun();
  });
  // Allow (OPTIONS, 405) from the route table, where path parameters have their patterns: the
  // router's own allowedMethods() merged every template of the same shape.
  app.use(table.allowedMethodsMiddleware());
  app.use(table.router.routes());
  // Errors are answered by errorHandler; what reaches here is a broken socket, worth a line only.
  app.on('error', (err: unknown) => deps.logger.warn('http error', { err: String(err) }));
  return app;
}

/**
 * Every route of the API, each with its spec (api/routes/route-table.ts): the router serves them and
 * GET /v1/openapi.json documents them. Building it opens nothing (tests build it to check the document).
 */
export function createRouteTable(deps: ApiDeps, metrics: Metrics = new Metrics()): RouteTable {
  const table = new RouteTable([
    authenticate(deps),
    rateLimit(deps),
    requireWritableKey(),
    jsonBody(),
    idempotency(deps),
  ]);
  let openapi: SchemaObject | undefined;
  addSystemRoutes(
    table,
    deps,
    metrics,
    () => (openapi ??= buildOpenApiDocument(table.specs, { version: API_VERSION, serverUrl: deps.config.publicUrl })),
  );
  addNodeRoutes(table, deps);
  addClusterRoutes(table, deps);
  addPoolRoutes(table, deps);
  addOperationRoutes(table, deps);
  addOsdRoutes(table, deps);
  addRemoveNodeRoutes(table, deps);
  addApiKeyRoutes(table, deps);
  addSandboxRoutes(table, deps);
  addUpgradeRoutes(table, deps);
  addEventRoutes(table, deps);
  addWebhookRoutes(table, deps);
  addExpandRoutes(table, deps);
  return table;
}
