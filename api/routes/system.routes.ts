import { pingDatabase } from '../../db/database';
import { pingTemporal } from '../../lib/temporal';
import type { ApiDeps } from '../context';
import { ApiError } from '../errors';
import type { Metrics } from '../middleware/metrics.middleware';
import type { SchemaObject } from '../schemas/common.schemas';
import type { RouteTable } from './route-table';

const statusSchema: SchemaObject = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string', enum: ['ok'] } },
};

/** Probes and documents: no key needed, never rate limited. */
export function addSystemRoutes(table: RouteTable, deps: ApiDeps, metrics: Metrics, openapi: () => SchemaObject): void {
  table.add(
    {
      method: 'get',
      path: '/healthz',
      operationId: 'healthz',
      summary: 'Liveness: the process is up',
      tag: 'System',
      auth: false,
      responses: { 200: { description: 'Alive.', schema: statusSchema } },
    },
    (ctx) => {
      ctx.body = { status: 'ok' };
    },
  );

  table.add(
    {
      method: 'get',
      path: '/readyz',
      operationId: 'readyz',
      summary: 'Readiness: PostgreSQL and Temporal answer',
      tag: 'System',
      auth: false,
      responses: {
        200: {
          description: 'Ready.',
          schema: {
            ...statusSchema,
            properties: { ...(statusSchema.properties as object), checks: { type: 'object' } },
          },
        },
        503: { description: '`service_unavailable`, with `checks` saying which dependency failed.' },
      },
    },
    async (ctx) => {
      const [database, temporal] = await Promise.all([
        withTimeout(
          pingDatabase(deps.db).then(() => true),
          2000,
        ).catch(() => false),
        pingTemporal(deps.temporal, 2000),
      ]);
      const checks = { database: database ? 'ok' : 'unavailable', temporal: temporal ? 'ok' : 'unavailable' };
      if (!database || !temporal) throw new ApiError('service_unavailable', 'Not ready.', { checks });
      ctx.body = { status: 'ok', checks };
    },
  );

  table.add(
    {
      method: 'get',
      path: '/v1/openapi.json',
      operationId: 'openapi',
      summary: 'This API as an OpenAPI 3.1 document',
      description: 'Generated from the JSON Schemas the validator uses.',
      tag: 'System',
      auth: false,
      responses: { 200: { description: 'OpenAPI 3.1 document.', schema: { type: 'object' } } },
    },
    (ctx) => {
      ctx.body = openapi();
    },
  );

  table.add(
    {
      method: 'get',
      path: '/metrics',
      operationId: 'metrics',
      summary: 'Prometheus metrics of this API process',
      tag: 'System',
      auth: false,
      responses: {
        200: { description: 'Prometheus text format 0.0.4.', schema: { type: 'string' }, contentType: 'text/plain' },
      },
    },
    (ctx) => {
      ctx.type = 'text/plain; version=0.0.4; charset=utf-8';
      ctx.body = metrics.render();
    },
  );
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
