import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { LoadResult, LoadSpec } from './autocannon-run';

const run = promisify(execFile);

/** Runs autocannon against a URL from a separate Node process (bench/load/autocannon-run.ts). */
export async function loadTest(spec: LoadSpec): Promise<LoadResult> {
  const script = path.resolve(__dirname, 'autocannon-run.ts');
  const { stdout } = await run(process.execPath, ['--import', 'tsx', script, JSON.stringify(spec)], {
    timeout: (spec.durationS + 60) * 1000,
    maxBuffer: 1 << 20,
  });
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as LoadResult;
}
