import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import Koa from 'koa';
import pg from 'pg';
import type { Node, Osd } from '../../db/database';
import { nodeView } from '../../api/services/nodes.service';
import { osdView } from '../../api/services/osds.service';

/**
 * The baseline of the list rows of `npm run bench` (issue 14): a bare Koa + pg server answering the
 * same two pages from the same PostgreSQL with a pool of the same size — the page's rows and the
 * total, serialised with the API's own view functions (same JSON shape) — and nothing else: no
 * authentication, validation, rate limit, request id, metrics, locks or error mapping. The account,
 * environment and cluster are fixed when it starts.
 */
export interface BaselineListServer {
  base: string;
  close(): Promise<void>;
}

export async function startBaselineListServer(opts: {
  databaseUrl: string;
  poolSize: number;
  accountId: string;
  environment: 'live' | 'sandbox';
}): Promise<BaselineListServer> {
  const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize });
  pool.on('error', () => {});
  const app = new Koa();
  app.use(async (ctx) => {
    const perPage = Number(ctx.query.per_page ?? 50);
    const page = Number(ctx.query.page ?? 1);
    const offset = (page - 1) * perPage;
    if (ctx.path === '/v1/nodes') {
      const [rows, count] = await Promise.all([
        pool.query(
          'select * from nodes where account_id = $1 and environment = $2 order by created_at desc, id desc limit $3 offset $4',
          [opts.accountId, opts.environment, perPage, offset],
        ),
        pool.query('select count(*) as n from nodes where account_id = $1 and environment = $2', [
          opts.accountId,
          opts.environment,
        ]),
      ]);
      ctx.body = {
        data: (rows.rows as Node[]).map((n) => nodeView(n, null)),
        meta: { page, per_page: perPage, total: Number(count.rows[0].n) },
      };
      return;
    }
    const m = /^\/v1\/clusters\/([^/]+)\/osds$/.exec(ctx.path);
    if (m) {
      const clusterId = m[1]!;
      const [rows, count] = await Promise.all([
        pool.query('select * from osds where cluster_id = $1 order by osd_id limit $2 offset $3', [
          clusterId,
          perPage,
          offset,
        ]),
        pool.query('select count(*) as n from osds where cluster_id = $1', [clusterId]),
      ]);
      ctx.body = {
        data: (rows.rows as Osd[]).map((o) => osdView(o, null)),
        meta: { page, per_page: perPage, total: Number(count.rows[0].n) },
      };
      return;
    }
    ctx.status = 404;
  });
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await pool.end();
    },
  };
}
