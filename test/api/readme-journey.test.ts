import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningWorker } from '../../worker/main';
import { startTestApi, type TestApi } from '../helpers/api';
import { startTestWorker } from '../helpers/worker';

/**
 * The README's sandbox journey, run as written (issue 12 item 8): every ```sh block that follows a
 * `<!-- journey` marker in README.md is pasted, in order, into one bash against a real API and
 * worker (sandbox drivers, real Temporal and PostgreSQL); every `# → …` line under a command must
 * appear in what bash printed, in order (`…` stands for anything). The only edits: the banner's
 * key, the default addresses (http://127.0.0.1:8080, :8233) and /tmp become this run's.
 */
const README = path.resolve(__dirname, '../../README.md');
const TOOLS = ['bash', 'curl', 'jq', 'ssh-keygen'];

/** The journey blocks of a README: ```sh fences after a `<!-- journey` marker (blank lines between). */
function journeyBlocks(readme: string): string[] {
  const lines = readme.split('\n');
  const blocks: string[] = [];
  let armed = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('<!-- journey')) armed = true;
    else if (armed && line.trim() === '```sh') {
      const body: string[] = [];
      for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) body.push(lines[i]!);
      blocks.push(body.join('\n'));
      armed = false;
    } else if (armed && line.trim() !== '') armed = false;
  }
  return blocks;
}

function matcher(expected: string): RegExp {
  const parts = expected.split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`);
}

let api: TestApi;
let worker: RunningWorker;
let dir: string;

beforeAll(async () => {
  const missing = TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length) throw new Error(`the README journey needs ${missing.join(', ')} on PATH`);
  api = await startTestApi({ NF_LOG_LEVEL: 'silent' });
  worker = await startTestWorker(api.config, api.db);
  dir = await mkdtemp(path.join(tmpdir(), 'nf-readme-'));
});
afterAll(async () => {
  await worker?.shutdown();
  await api?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('README sandbox journey', () => {
  it('finds the journey blocks', async () => {
    const blocks = journeyBlocks(await readFile(README, 'utf8'));
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    // Nothing a reader pastes is a pipeline or refers to an id they would have to copy by hand.
    for (const b of blocks) {
      const code = b
        .split('\n')
        .filter((l) => !l.trimStart().startsWith('#'))
        .join('\n')
        .replace(/'[^']*'/g, "''");
      expect(code, b).not.toMatch(/\|/);
      expect(code, b).not.toMatch(/(node|op|clus)_…/);
    }
  });

  it('prints what the README says, block by block, against a real stack', async () => {
    const readme = await readFile(README, 'utf8');
    const blocks = journeyBlocks(readme).map((b) =>
      b
        .replaceAll('nf_sk_test_…', api.account.keys.test)
        .replaceAll('http://127.0.0.1:8080', api.base)
        .replaceAll('http://127.0.0.1:8233', api.config.temporal.uiUrl)
        .replaceAll('/tmp/', `${dir}/`),
    );
    const expected = blocks.flatMap((b) =>
      b
        .split('\n')
        .map((l) => /^# → (.*)$/.exec(l.trim())?.[1])
        .filter((l): l is string => l !== undefined),
    );
    expect(expected.length).toBeGreaterThan(5);
    const script = ['set -euo pipefail', ...blocks].join('\n');
    const child = spawn('bash', ['-s'], { cwd: dir, env: { PATH: process.env.PATH, HOME: dir } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.end(script);
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code, `bash exited ${code}\nstdout:\n${out}\nstderr:\n${err}`).toBe(0);
    const lines = out.split('\n');
    let at = 0;
    for (const e of expected) {
      const re = matcher(e);
      const found = lines.findIndex((l, i) => i >= at && re.test(l));
      expect(
        found,
        `README says "${e}" but the journey printed (from line ${at}):\n${lines.slice(at).join('\n')}`,
      ).toBeGreaterThanOrEqual(0);
      at = found + 1;
    }
  }, 180_000);
});
