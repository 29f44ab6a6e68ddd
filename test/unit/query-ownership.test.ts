import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Repositories own the queries (docs/architecture.md, "Data access"): outside `db/`, no source file
 * builds one. The sandbox simulator keeps the queries of its own tables (sandbox_*) and nothing else;
 * the chaos suite (scripts/chaos/) is test tooling that builds fixtures, breaks rows on purpose and
 * reads evidence, like test/, and keeps its own queries.
 */
const ROOT = path.resolve(__dirname, '../..');
const SOURCE_DIRS = ['activities', 'api', 'lib', 'drivers', 'workflows', 'scripts', 'worker'];
const SANDBOX = `drivers${path.sep}sandbox${path.sep}`;
const TEST_TOOLING = `scripts${path.sep}chaos${path.sep}`;

const QUERY = /\.(selectFrom|insertInto|updateTable|deleteFrom|replaceInto|mergeInto)\(/;
/** A value import of kysely (`sql`, `Kysely`): types (`import type { Transaction }`) are fine. */
const KYSELY_VALUE_IMPORT = /^import (?!type\b)[^;]*from 'kysely';/m;
/** The table a query names: `.selectFrom('nodes')` → nodes. */
const TABLE = /\.(?:selectFrom|insertInto|updateTable|deleteFrom)\(\s*'([a-z_]+)'/g;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

const files = SOURCE_DIRS.flatMap((d) => sourceFiles(path.join(ROOT, d)))
  .map((p) => ({ rel: path.relative(ROOT, p), text: readFileSync(p, 'utf8') }))
  .filter((f) => !f.rel.startsWith(TEST_TOOLING));

describe('query ownership', () => {
  it('finds the source files it checks', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files.some((f) => f.rel.startsWith(SANDBOX) && QUERY.test(f.text))).toBe(true);
  });

  it('builds no query outside db/ and the sandbox simulator', () => {
    const offenders = files
      .filter((f) => !f.rel.startsWith(SANDBOX))
      .flatMap((f) =>
        f.text
          .split('\n')
          .map((line, i) => ({ line, i }))
          .filter(({ line }) => QUERY.test(line) || /\bsql[`<]/.test(line))
          .map(({ i }) => `${f.rel}:${i + 1}`),
      );
    expect(offenders).toEqual([]);
  });

  it('imports kysely values only in db/ and the sandbox simulator', () => {
    expect(
      files.filter((f) => !f.rel.startsWith(SANDBOX) && KYSELY_VALUE_IMPORT.test(f.text)).map((f) => f.rel),
    ).toEqual([]);
  });

  it('lets the sandbox simulator query only its own tables', () => {
    const foreign = files
      .filter((f) => f.rel.startsWith(SANDBOX))
      .flatMap((f) =>
        [...f.text.matchAll(TABLE)]
          .map((m) => m[1]!)
          .filter((t) => !t.startsWith('sandbox_'))
          .map((t) => `${f.rel}: ${t}`),
      );
    expect(foreign).toEqual([]);
  });
});
