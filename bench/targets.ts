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
  /** p95 of GET /v1/nodes (a page of 50) through auth, rate limit and PostgreSQL. */
  listNodesP95Ms: target('BENCH_LIST_NODES_P95_MS', 50),
};

export function report(name: string, figures: Record<string, number | string>): void {
  console.log(
    `bench ${name}: ${Object.entries(figures)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
}
