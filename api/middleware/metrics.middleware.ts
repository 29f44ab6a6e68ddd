import type { Middleware } from 'koa';
import type { AppState } from '../context';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Histogram {
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * Prometheus metrics of this process, hand-written (two metric families do not justify a client
 * library): request counts by method, route template and status, and a request duration histogram
 * by method and route. Route templates, never raw paths, keep the label cardinality bounded.
 */
export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly durations = new Map<string, Histogram>();

  /** The label strings of each method, route and status seen (their number is bounded, see above). */
  private readonly keys = new Map<string, { reqKey: string; durKey: string }>();

  observe(method: string, route: string, status: number, seconds: number): void {
    const seen = `${method} ${route} ${status}`;
    let keys = this.keys.get(seen);
    if (!keys) {
      keys = { reqKey: labels({ method, route, status: String(status) }), durKey: labels({ method, route }) };
      this.keys.set(seen, keys);
    }
    const { reqKey, durKey } = keys;
    this.requests.set(reqKey, (this.requests.get(reqKey) ?? 0) + 1);
    let h = this.durations.get(durKey);
    if (!h) {
      h = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.durations.set(durKey, h);
    }
    BUCKETS.forEach((le, i) => {
      if (seconds <= le) h.buckets[i]! += 1;
    });
    h.sum += seconds;
    h.count += 1;
  }

  render(): string {
    const out: string[] = [
      '# HELP nodefoundry_http_requests_total HTTP requests handled, by method, route and status.',
      '# TYPE nodefoundry_http_requests_total counter',
    ];
    for (const [l, n] of this.requests) out.push(`nodefoundry_http_requests_total{${l}} ${n}`);
    out.push(
      '# HELP nodefoundry_http_request_duration_seconds HTTP request duration, by method and route.',
      '# TYPE nodefoundry_http_request_duration_seconds histogram',
    );
    for (const [l, h] of this.durations) {
      BUCKETS.forEach((le, i) =>
        out.push(`nodefoundry_http_request_duration_seconds_bucket{${l},le="${le}"} ${h.buckets[i]}`),
      );
      out.push(`nodefoundry_http_request_duration_seconds_bucket{${l},le="+Inf"} ${h.count}`);
      out.push(`nodefoundry_http_request_duration_seconds_sum{${l}} ${h.sum}`);
      out.push(`nodefoundry_http_request_duration_seconds_count{${l}} ${h.count}`);
    }
    return out.join('\n') + '\n';
  }
}

function labels(l: Record<string, string>): string {
  return Object.entries(l)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

/** Records every request once it has been answered (errors included: it runs outside the error handler's answer). */
export function metricsMiddleware(metrics: Metrics): Middleware<AppState> {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.observe(ctx.method, ctx.state.routeName ?? 'unmatched', ctx.status, seconds);
    }
  };
}
