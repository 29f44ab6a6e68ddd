/**
 * Benchmark targets, measured on the 2-core CI machines (docs/development.md, "Benchmarks").
 * Each can be overridden with its environment variable, e.g. for a slower laptop.
 */
function target(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(v)}`);
  return n;
}

export const TARGETS = {
  /** List pages under load: the API's throughput ÷ a bare Koa + pg server's (issue 14: ≥ 0.8). */
  listThroughputRatio: target('BENCH_LIST_THROUGHPUT_RATIO', 0.8),
  /** 1,000 reboots from 50 clients: the API's acceptance throughput ÷ bare workflow.start's (≥ 0.7). */
  rebootAcceptRatio: target('BENCH_REBOOT_ACCEPT_RATIO', 0.7),
  /** GET /v1/operations/{id} p99 ÷ a bare Temporal query's p99, 500+ operations running (≤ 2). */
  operationGetP99Ratio: target('BENCH_OPERATION_GET_P99_RATIO', 2),
};

export function report(name: string, figures: Record<string, number | string>): void {
  console.log(
    `bench ${name}: ${Object.entries(figures)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
}
