import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The import direction (lib ← db ← drivers ← contracts ← activities ← workflows ← api/worker, no
 * cycles) is checked by `npm run lint` with dependency-cruiser and .dependency-cruiser.cjs. Here the
 * very config runs over small fixture trees: a clean one passes, a cycle or an upward import fails.
 */
const root = path.resolve(__dirname, '../..');
const depcruise = path.join(root, 'node_modules/.bin/depcruise');
const config = path.join(root, '.dependency-cruiser.cjs');
const made: string[] = [];

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'nf-imports-'));
  made.push(dir);
  const all: Record<string, string> = {
    'tsconfig.json': JSON.stringify({
      compilerOptions: { module: 'commonjs', moduleResolution: 'node10', strict: true },
    }),
    'lib/failures.ts': "export const FAILURE = { internal: 'internal_error' } as const;\n",
    'workflows/contracts.ts':
      "export { FAILURE } from '../lib/failures';\nexport interface OperationRef { operationId: string }\n",
    'drivers/power.ts': "import { FAILURE } from '../lib/failures';\nexport const code = FAILURE.internal;\n",
    'activities/power.activities.ts':
      "import { code } from '../drivers/power';\nimport type { OperationRef } from '../workflows/contracts';\nexport const powerOn = (i: OperationRef) => `${i.operationId} ${code}`;\n",
    'workflows/reboot.workflow.ts':
      "import type { powerOn } from '../activities/power.activities';\nimport { FAILURE } from './contracts';\nexport type P = typeof powerOn;\nexport const f = FAILURE;\n",
    ...files,
  };
  for (const [file, text] of Object.entries(all)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }
  return dir;
}

function check(
  cwd: string,
  dirs = ['lib', 'drivers', 'activities', 'workflows'],
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      depcruise,
      [...dirs, '--config', config, '--output-type', 'err'],
      { cwd, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr });
      },
    );
  });
}

afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

// Each test runs depcruise (a child process, a few seconds; over 10 s on a loaded 2-core machine).
describe('import direction (npm run lint: depcruise)', { timeout: 60_000 }, () => {
  it('passes a tree whose imports all point down', async () => {
    const res = await check(tree({}));
    expect(res.output).toContain('no dependency violations found');
    expect(res.code).toBe(0);
  });

  it('fails on an import cycle', async () => {
    const res = await check(
      tree({
        'activities/a.activities.ts': "import { b } from './b.activities';\nexport const a = () => b;\n",
        'activities/b.activities.ts':
          "import type { a } from './a.activities';\nexport const b = 1;\nexport type A = typeof a;\n",
      }),
    );
    expect(res.code).not.toBe(0);
    expect(res.output).toMatch(/error no-cycle: activities\/[ab]\.activities\.ts/);
  });

  it('fails on a driver that imports workflow code (the old way to reach FAILURE)', async () => {
    const res = await check(
      tree({
        'drivers/power.ts':
          "import { FAILURE } from '../workflows/contracts';\nexport const code = FAILURE.internal;\n",
      }),
    );
    expect(res.code).not.toBe(0);
    expect(res.output).toContain('error drivers-import-only-db-and-lib: drivers/power.ts → workflows/contracts.ts');
  });

  it('fails on lib importing a layer above it, and on a workflow importing an activity by value', async () => {
    const res = await check(
      tree({
        'lib/ids.ts': "import { code } from '../drivers/power';\nexport const id = code;\n",
        'workflows/reboot.workflow.ts':
          "import { powerOn } from '../activities/power.activities';\nexport const p = powerOn;\n",
      }),
    );
    expect(res.code).not.toBe(0);
    expect(res.output).toContain('error lib-imports-nothing-above: lib/ids.ts → drivers/power.ts');
    expect(res.output).toContain(
      'error workflows-import-activities-as-types-only: workflows/reboot.workflow.ts → activities/power.activities.ts',
    );
  });

  // The operation registry (workflows/registry.ts) imports nothing: contracts.ts and the API may load
  // it. registry.types.ts looks at workflows/index.ts, so the API may use it through `import type` only.
  const registryTree = (api: Record<string, string>) =>
    tree({
      'workflows/registry.ts':
        "export const OPERATIONS = { 'node.reboot': { workflowType: 'f' } } as const;\nexport type OperationType = keyof typeof OPERATIONS;\n",
      'workflows/contracts.ts':
        "import type { OperationType } from './registry';\nexport { FAILURE } from '../lib/failures';\nexport interface OperationRef { operationId: string; type?: OperationType }\n",
      'workflows/index.ts': "export * from './reboot.workflow';\n",
      'workflows/registry.types.ts':
        "import type * as workflows from './index';\nimport type { OperationType } from './registry';\nexport type Workflows<T extends OperationType> = [T, typeof workflows];\n",
      ...api,
    });

  it('lets contracts.ts and the API load the registry, and the API its derived types as types only', async () => {
    const ok = await check(
      registryTree({
        'api/operations.service.ts':
          "import { OPERATIONS } from '../workflows/registry';\nimport type { Workflows } from '../workflows/registry.types';\nexport type W = Workflows<'node.reboot'>;\nexport const o = OPERATIONS;\n",
      }),
      ['lib', 'drivers', 'activities', 'workflows', 'api'],
    );
    expect(ok.output).toContain('no dependency violations found');
    expect(ok.code).toBe(0);

    const bad = await check(
      registryTree({
        'api/operations.service.ts':
          "import * as types from '../workflows/registry.types';\nimport { f } from '../workflows/reboot.workflow';\nexport const t = [types, f];\n",
      }),
      ['lib', 'drivers', 'activities', 'workflows', 'api'],
    );
    expect(bad.code).not.toBe(0);
    expect(bad.output).toContain(
      'error api-imports-registry-types-as-types-only: api/operations.service.ts → workflows/registry.types.ts',
    );
    expect(bad.output).toContain(
      'error api-imports-workflows-contracts-only: api/operations.service.ts → workflows/reboot.workflow.ts',
    );
  });
});
