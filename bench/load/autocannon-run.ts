import autocannon from 'autocannon';

/**
 * One autocannon load run in a process of its own (bench/load/load.ts spawns it), so the load
 * generator never shares an event loop with the server it measures. Input: one JSON argument
 * (LoadSpec); output: one JSON line (LoadResult) on stdout. Every response time is kept, so the p95
 * is exact (autocannon's own summary has p90 and p97.5, not p95).
 */
export interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  connections: number;
  durationS: number;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Responses by HTTP status, plus `errors` (connection errors) and `timeouts`. */
  statuses: Record<string, number>;
}

function main(): void {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
  const times: number[] = [];
  const statuses: Record<string, number> = {};
  const instance = autocannon(
    { url: spec.url, headers: spec.headers, connections: spec.connections, duration: spec.durationS, timeout: 10 },
    (err, result) => {
      if (err) {
        process.stderr.write(`autocannon: ${String(err)}\n`);
        process.exit(1);
      }
      times.sort((a, b) => a - b);
      const p = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? NaN;
      if (result.errors) statuses.errors = result.errors;
      if (result.timeouts) statuses.timeouts = result.timeouts;
      const out: LoadResult = {
        requests: times.length,
        seconds: result.duration,
        rps: times.length / result.duration,
        p50Ms: p(0.5),
        p95Ms: p(0.95),
        p99Ms: p(0.99),
        statuses,
      };
      process.stdout.write(`${JSON.stringify(out)}\n`);
    },
  );
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    times.push(responseTime);
    statuses[String(statusCode)] = (statuses[String(statusCode)] ?? 0) + 1;
  });
}

main();
