import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

/**
 * The one table `npm run bench` prints (issue 14): each figure NodeFoundry reaches, the baseline
 * measured in the same run (the same work done the plainest correct way on the same PostgreSQL and
 * Temporal server), their ratio and the goal. Bench files call `recordRow`; the global setup below
 * empties the file before the run and prints the table after it. A missed goal also fails its bench
 * (each bench asserts its own goal), so the run exits non-zero.
 */
export interface BenchRow {
  /** What is measured, e.g. "180-host upgrade, time per host". */
  figure: string;
  /** NodeFoundry's figure, with its unit. */
  value: string;
  /** The baseline's figure with its unit, or '—' where the issue names none. */
  baseline: string;
  /** value ÷ baseline in the goal's direction (e.g. 1.21 for "≤ 1.5 ×"), or null without a baseline. */
  ratio: number | null;
  /** The goal, e.g. "≤ 1.5 × baseline" or "completes, ≤ 10,000 events". */
  goal: string;
  pass: boolean;
}

export const ROWS_FILE = path.resolve(__dirname, '.out/rows.jsonl');

export function recordRow(row: BenchRow): void {
  mkdirSync(path.dirname(ROWS_FILE), { recursive: true });
  appendFileSync(ROWS_FILE, `${JSON.stringify(row)}\n`);
  console.log(`bench row: ${row.figure}: ${row.value} (baseline ${row.baseline}) ${row.pass ? 'PASS' : 'MISS'}`);
}

export function readRows(file = ROWS_FILE): BenchRow[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as BenchRow);
}

/** The rows as a Markdown table (so it can be pasted into docs and notes as is). */
export function formatTable(rows: BenchRow[]): string {
  const head = ['figure', 'NodeFoundry', 'baseline (same run)', 'ratio', 'goal', ''];
  const body = rows.map((r) => [
    r.figure,
    r.value,
    r.baseline,
    r.ratio === null ? '—' : `${r.ratio.toFixed(2)} ×`,
    r.goal,
    r.pass ? 'PASS' : 'MISS',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

/** vitest global setup (bench/vitest.config.ts): an empty table before, the table printed after. */
export default function setup(): () => void {
  rmSync(ROWS_FILE, { force: true });
  return () => {
    const rows = readRows();
    console.log(`\nnpm run bench: ${rows.length} figure(s)\n${formatTable(rows)}\n`);
  };
}
