import path from 'node:path';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

/** The workflow import boundary (STYLE 1) is enforced by lint: a bad import fails at edit time. */
describe('workflow import boundary', () => {
  // The very rule block of eslint.config.mjs, without the type-aware rules (the probe is not a file
  // of the TypeScript project).
  const lint = async (code: string) => {
    // @ts-expect-error -- the config is plain JavaScript (eslint.config.mjs), typed here by the cast.
    const configs = (await import('../../eslint.config.mjs')).default as Linter.Config[];
    const boundary = configs.find((c) => c.files?.includes('workflows/**/*.ts'));
    expect(boundary?.rules?.['no-restricted-imports']).toBeDefined();
    const eslint = new ESLint({
      cwd: path.resolve(__dirname, '../..'),
      overrideConfigFile: true,
      overrideConfig: [
        { files: ['**/*.ts'], languageOptions: { parser: tseslint.parser as Linter.Parser } },
        boundary!,
      ],
    });
    const [result] = await eslint.lintText(code, {
      filePath: path.resolve(__dirname, '../../workflows/boundary-probe.ts'),
    });
    return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
  };

  it('refuses value imports of activities, drivers, the database and node modules', async () => {
    expect(
      await lint("import { createActivities } from '../activities';\nexport const a = createActivities;\n"),
    ).toHaveLength(1);
    expect(await lint("import { createDb } from '../db/database';\nexport const a = createDb;\n")).toHaveLength(1);
    expect(await lint("import { Client } from 'ssh2';\nexport const a = Client;\n")).toHaveLength(1);
    expect(await lint("import { loadConfig } from '../lib/config';\nexport const a = loadConfig;\n")).toHaveLength(1);
  });

  it('allows the pure lib modules: the failure vocabulary, Ceph releases and the planners', async () => {
    expect(
      await lint(
        "import { FAILURE } from '../lib/failures';\nimport { parseCephVersion } from '../lib/ceph-releases';\nimport { rebootPlan } from '../lib/plans/reboot-node.planner';\nexport const a = [FAILURE, parseCephVersion, rebootPlan];\n",
      ),
    ).toEqual([]);
  });

  it('allows the workflow SDK, sibling workflow files and type-only activity imports', async () => {
    expect(
      await lint(
        "import { sleep } from '@temporalio/workflow';\nimport type { Activities } from '../activities';\nimport { FAILURE } from './contracts';\nexport type A = Activities;\nexport const a = [sleep, FAILURE];\n",
      ),
    ).toEqual([]);
  });
});
