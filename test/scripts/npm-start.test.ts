import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, isListening } from '../../scripts/lib/ports';
import { spawnCollecting, waitFor, waitForOutput } from '../helpers/spawned';

/**
 * `npm start` for real (issue 8 #16: SIGTERM to the npm process left node, the API and the Temporal
 * dev server running on their ports). Temporary data directory, free ports, the embedded PostgreSQL.
 */

const ROOT = path.resolve(__dirname, '..', '..');

/** Every live descendant of `root` (by parent pid, from /proc). */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(d), ppid);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [pid, pp] of parent) {
      if (pp !== p) continue;
      out.push(pid);
      walk(pid);
    }
  };
  walk(root);
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // a zombie is gone for our purposes
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('npm start', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nf-npm-start-'));
  let npm: ChildProcess | undefined;
  const pids: number[] = [];
  let firstKey: string | undefined;

  afterAll(() => {
    // Only what this test started, by pid.
    for (const pid of [...pids, ...(npm?.pid ? [npm.pid] : [])]) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  /** `npm start` on the test's data directory and fresh free ports, until its banner. */
  async function npmStart() {
    const [api, temporal, ui, postgres] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NF_DATA_DIR: path.join(dir, 'data'),
      PORT: String(api),
      NF_TEMPORAL_PORT: String(temporal),
      NF_TEMPORAL_UI_PORT: String(ui),
      NF_POSTGRES_PORT: String(postgres),
      NF_LOG_LEVEL: 'warn',
    };
    delete env.DATABASE_URL;
    delete env.TEMPORAL_ADDRESS;
    delete env.TEMPORAL_UI_URL;
    delete env.NF_SECRET_KEY;
    const state = spawnCollecting('npm', ['start'], { cwd: ROOT, env });
    npm = state.child;
    await waitForOutput(state, 'the banner of npm start', 90_000, (out) =>
      out.includes('NodeFoundry is running') ? true : undefined,
    );
    return {
      npmPid: npm.pid!,
      state,
      ports: [api, temporal, ui, postgres],
      key: /Sandbox key\s+(\S+)/.exec(state.out)?.[1],
      api,
    };
  }

  it('SIGTERM to the npm process stops node, the API, PostgreSQL and Temporal, and frees every port', async () => {
    const first = await npmStart();
    const { npmPid, ports } = first;
    for (const p of ports) expect(await isListening(p), `port ${p} listens`).toBe(true);
    pids.push(...descendants(npmPid));
    // node, the Temporal dev server, the postmaster and its processes, at the least
    expect(pids.length).toBeGreaterThanOrEqual(3);

    const t0 = Date.now();
    process.kill(npmPid, 'SIGTERM');
    await waitFor('every process of npm start to exit', 45_000, () =>
      pids.every((p) => !alive(p)) && !alive(npmPid) ? true : undefined,
    );
    const stoppedMs = Date.now() - t0;
    for (const p of ports) expect(await isListening(p), `port ${p} is free`).toBe(false);
    // In order: the API first, Temporal last.
    const out = first.state.out;
    const order = ['stopped API', 'stopped worker', 'stopped embedded PostgreSQL', 'stopped Temporal dev server'].map(
      (s) => out.indexOf(s),
    );
    expect(
      order.every((i) => i >= 0),
      out.slice(-2000),
    ).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    console.log(`npm start stopped everything ${stoppedMs} ms after SIGTERM (${pids.length} processes)`);
    firstKey = first.key;
    expect(firstKey).toMatch(/^nf_sk_test_/);
  }, 150_000);

  it('a second npm start on the same data directory finds its data (the same demo key answers); SIGINT to npm stops it', async () => {
    expect(firstKey).toBeDefined();
    const second = await npmStart();
    expect(second.key).toBe(firstKey);
    const r = await fetch(`http://127.0.0.1:${second.api}/v1/nodes`, {
      headers: { authorization: `Bearer ${firstKey}` },
    });
    expect(r.status).toBe(200);
    // The banner's exports are what the CLI reads: pasted as printed, `npx nodefoundry nodes list` works.
    const exports = Object.fromEntries(
      [...second.state.out.matchAll(/^ +export (NF_[A-Z_]+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]),
    );
    expect(exports).toEqual({ NF_API_KEY: firstKey, NF_API_URL: `http://127.0.0.1:${second.api}` });
    expect(second.state.out).toContain('-H "Authorization: Bearer $NF_API_KEY"');
    const cliEnv: NodeJS.ProcessEnv = { ...process.env, ...exports };
    delete cliEnv.DATABASE_URL;
    const cli = await promisify(execFile)(
      process.execPath,
      [path.join(ROOT, 'bin', 'nodefoundry.cjs'), 'nodes', 'list'],
      {
        cwd: ROOT,
        env: cliEnv,
        timeout: 30_000,
      },
    );
    expect(cli.stdout).toMatch(/^ID\s+HOSTNAME\s+STATUS/);
    const procs = descendants(second.npmPid);
    pids.push(...procs);
    process.kill(second.npmPid, 'SIGINT');
    await waitFor('every process of the second npm start to exit', 45_000, () =>
      procs.every((p) => !alive(p)) && !alive(second.npmPid) ? true : undefined,
    );
    for (const p of second.ports) expect(await isListening(p), `port ${p} is free`).toBe(false);
    expect(second.state.out).toContain('stopped embedded PostgreSQL');
  }, 150_000);
});
