import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningWorker } from '../../worker/main';
import { startTestApi, type TestApi } from '../helpers/api';
import { spawnCollecting, waitFor, type Spawned } from '../helpers/spawned';
import { startTestWorker } from '../helpers/worker';
import { sandboxCluster, waitForOperation, type FixtureCluster } from '../workflows/upgrade-fixtures';

/**
 * Issue 12 item 6: `nodefoundry nodes|clusters|operations …` run as a child process (bin/nodefoundry.cjs,
 * as `npx nodefoundry` runs it) against a real stack: the API, a worker with the sandbox drivers,
 * Temporal and PostgreSQL. `operations watch` runs in a pseudo-terminal (util-linux `script`) where
 * it draws, and on a pipe where it prints plain lines.
 */
const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'nodefoundry.cjs');

let api: TestApi;
let worker: RunningWorker;
let cluster: FixtureCluster;

beforeAll(async () => {
  api = await startTestApi({
    NF_WAIT_CEPH_MS: '3000',
    NF_WAIT_POWER_MS: '3000',
    NF_WAIT_SSH_MS: '3000',
    NF_LOG_LEVEL: 'silent',
  });
  worker = await startTestWorker(api.config, api.db);
  cluster = await sandboxCluster(api, { hosts: 3 });
});

afterAll(async () => {
  await worker?.shutdown();
  await api?.close();
});

function env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, NF_API_URL: api.base, NF_API_KEY: api.account.keys.test, ...extra };
  for (const [k, v] of Object.entries(e)) if (v === undefined) delete e[k];
  // Colours and the like never depend on the test runner's terminal.
  delete e.FORCE_COLOR;
  return e;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `nodefoundry ARGS` with stdout and stderr on pipes; bounded. */
function cli(args: string[], extraEnv: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: env(extraEnv), timeout: 60_000, maxBuffer: 10 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        if (err && typeof err.code !== 'number') reject(err);
        else resolve({ code, stdout, stderr });
      },
    );
  });
}

async function startUpgrade(clusterId: string, body: Record<string, unknown>): Promise<string> {
  const r = await api.request('POST', `/v1/clusters/${clusterId}/upgrade`, { body });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body.data.operation_id;
}

async function rowStatus(id: string): Promise<string> {
  return (await api.db.selectFrom('operations').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;
}

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

describe('nodefoundry nodes and clusters', () => {
  it('list and get print tables and details; --json prints exactly what the API answers', async () => {
    const list = await cli(['nodes', 'list', '--cluster', cluster.clusterId]);
    expect(list.code, list.stderr).toBe(0);
    const [header, ...rows] = list.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+HOSTNAME\s+STATUS\s+STATE\s+HELD\s+CLUSTER\s+IP\s+OPERATION$/);
    expect(rows.map((r) => r.split(/\s+/)[1]).sort()).toEqual(cluster.nodes.map((n) => n.hostname).sort());

    const json = await cli(['nodes', 'list', '--cluster', cluster.clusterId, '--json']);
    expect(json.code).toBe(0);
    const fromApi = await api.request('GET', `/v1/nodes?cluster_id=${cluster.clusterId}`);
    expect(JSON.parse(json.stdout)).toEqual(fromApi.body);

    const node = cluster.nodes[1]!;
    const get = await cli(['nodes', 'get', node.id]);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toMatch(new RegExp(`^hostname:\\s+${node.hostname}$`, 'm'));
    expect(get.stdout).toMatch(new RegExp(`^cluster_id:\\s+${cluster.clusterId}$`, 'm'));

    const clusters = await cli(['clusters', 'list']);
    expect(clusters.code, clusters.stderr).toBe(0);
    expect(clusters.stdout).toMatch(new RegExp(`^${cluster.clusterId}\\s+upg-\\S+\\s+HEALTH_OK\\s+reef\\s+3\\s`, 'm'));
    const detail = await cli(['clusters', 'get', cluster.clusterId, '--json']);
    expect(JSON.parse(detail.stdout)).toEqual((await api.request('GET', `/v1/clusters/${cluster.clusterId}`)).body);
  });

  it("API errors print the API's code and message and exit 1; a missing key is a usage error (2)", async () => {
    const missing = await cli(['nodes', 'get', 'node_00000000000000000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^nodefoundry: node_not_found: No node with ID node_0+ /m);
    expect(missing.stdout).toBe('');
    const json = await cli(['operations', 'get', 'op_00000000000000000000000000', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).error.code).toBe('operation_not_found');

    const badKey = await cli(['clusters', 'list'], { NF_API_KEY: 'nf_sk_test_not-a-key' });
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/^nodefoundry: unauthorized: /m);
    const badQuery = await cli(['operations', 'list', '--status', 'sleeping']);
    expect(badQuery.code).toBe(1);
    expect(badQuery.stderr).toMatch(/^nodefoundry: validation_error: .*\(field status\)$/m);

    const noKey = await cli(['nodes', 'list'], { NF_API_KEY: undefined });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/no API key: set NF_API_KEY or pass --key/);
    // --key and --url override the environment.
    const flags = await cli(['clusters', 'list', '--key', api.account.keys.test, '--url', api.base], {
      NF_API_KEY: undefined,
      NF_API_URL: 'http://127.0.0.1:1',
    });
    expect(flags.code, flags.stderr).toBe(0);
    const down = await cli(['clusters', 'list', '--url', 'http://127.0.0.1:1']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot reach the API at http:\/\/127\.0\.0\.1:1/);
  });
});

describe('nodefoundry operations', () => {
  it('pause, list, get, resume and cancel an upgrade; watch on a pipe prints plain lines and exits 1 when it ends cancelled', async () => {
    const id = await startUpgrade(cluster.clusterId, { ceph_version: 'squid', max_concurrent: 1 });
    const pause = await cli(['operations', 'pause', id, '--reason', 'change window closes']);
    expect(pause.code, pause.stderr).toBe(0);
    expect(pause.stdout).toMatch(new RegExp(`^${id} paused: .*change window closes`));
    await waitFor('the pause to take effect at a safe point', 30_000, async () =>
      (await rowStatus(id)) === 'paused' ? true : undefined,
    );

    const list = await cli(['operations', 'list', '--cluster', cluster.clusterId, '--status', 'paused']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(
      new RegExp(`^${id}\\s+cluster\\.upgrade\\s+paused\\s+\\d+%\\s+cluster ${cluster.clusterId}`, 'm'),
    );
    const listed = JSON.parse((await cli(['operations', 'list', '--cluster', cluster.clusterId, '--json'])).stdout);
    expect(listed.data.map((o: any) => o.id)).toContain(id);

    const get = await cli(['operations', 'get', id]);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toMatch(/^\[[█░]{30}\]\s+\d+%  paused/m);
    expect(get.stdout).toMatch(/^paused: \S+: .*change window closes/m);
    expect(get.stdout).toMatch(/^steps:$/m);
    expect(get.stdout).toMatch(/^temporal: http/m);

    // Ctrl-C stops watching, not the operation.
    const interrupted = spawnCollecting(process.execPath, [BIN, 'operations', 'watch', id, '--interval', '0.2'], {
      cwd: ROOT,
      env: env(),
    });
    await waitFor('the first plain line', 30_000, () => (/ paused \d+%/.test(interrupted.out) ? true : undefined));
    interrupted.child.kill('SIGINT');
    await waitFor('watch to stop', 10_000, () => (interrupted.exitCode !== undefined ? true : undefined));
    expect(interrupted.exitCode, interrupted.out).toBe(130);
    expect(interrupted.out).toContain(`stopped watching ${id}; it goes on`);
    expect(await rowStatus(id)).toBe('paused');

    const resume = await cli(['operations', 'resume', id]);
    expect(resume.code, resume.stderr).toBe(0);
    expect(resume.stdout).toBe(`${id} in_progress\n`);
    // Resuming what is not paused: the API's 409, code and message.
    const again = await cli(['operations', 'resume', id]);
    if ((await rowStatus(id)) === 'in_progress') {
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/^nodefoundry: invalid_state: /m);
    }

    // Watch on a pipe while the upgrade runs; cancel it from another CLI.
    const watch: Spawned = spawnCollecting(process.execPath, [BIN, 'operations', 'watch', id, '--interval', '0.2'], {
      cwd: ROOT,
      env: env(),
    });
    await waitFor('the first plain line', 30_000, () => (/ in_progress \d+%/.test(watch.out) ? true : undefined));
    const cancel = await cli(['operations', 'cancel', id]);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toMatch(new RegExp(`^cancel requested for ${id} `));
    await waitFor('watch to exit', 90_000, () => (watch.exitCode !== undefined ? true : undefined));
    const done = await waitForOperation(api, id);
    expect(done.status).toBe('cancelled');
    expect(watch.exitCode, watch.out).toBe(1);
    expect(watch.out).not.toMatch(ANSI);
    expect(watch.out).toMatch(/^ {2}step \S+: (in_progress|completed)$/m);
    expect(watch.out).toMatch(new RegExp(`^${id} cancelled in \\d+ s`, 'm'));
    // A watch of an operation that has ended prints its end at once, with its exit code.
    const after = await cli(['operations', 'watch', id]);
    expect([after.code, after.stdout.trimEnd().split('\n').pop()]).toEqual([1, expect.stringMatching(/cancelled/)]);
    const ended = await cli(['operations', 'cancel', id]);
    expect(ended.code).toBe(1);
    expect(ended.stderr).toMatch(/^nodefoundry: invalid_state: /m);
  });

  it('watch in a terminal draws a live progress bar, the steps and the log tail until the upgrade completes (exit 0)', async () => {
    const own = await sandboxCluster(api, { hosts: 3 });
    const id = await startUpgrade(own.clusterId, { ceph_version: 'squid', max_concurrent: 1 });
    expect((await cli(['operations', 'pause', id])).code).toBe(0);
    await waitFor('the pause to take effect at a safe point', 30_000, async () =>
      (await rowStatus(id)) === 'paused' ? true : undefined,
    );
    // util-linux `script` gives the CLI a pseudo-terminal of 120×40 and copies what it draws to
    // our pipe; -e: its exit code is the CLI's.
    const command = `stty cols 120 rows 40; exec '${process.execPath}' '${BIN}' operations watch ${id} --interval 0.2`;
    const tty = spawnCollecting('script', ['-qefc', command, '/dev/null'], { cwd: ROOT, env: env({ TERM: 'xterm' }) });
    // Drawn while paused: the bar, the status and the step list.
    await waitFor('the first frame', 30_000, () =>
      /\[[█░]{30}\]\s+\d+%\s+paused/.test(tty.out.replace(ANSI, '')) ? true : undefined,
    );
    expect(tty.out).toMatch(new RegExp(`${id}  cluster\\.upgrade  on cluster ${own.clusterId}`));
    expect(tty.out.replace(ANSI, '')).toMatch(/steps:/);
    expect((await cli(['operations', 'resume', id])).code).toBe(0);
    await waitFor('watch to exit', 90_000, () => (tty.exitCode !== undefined ? true : undefined));
    const op = await waitForOperation(api, id);
    expect(op.status).toBe('completed');
    expect(tty.exitCode, tty.out.slice(-3000)).toBe(0);
    const plain = tty.out.replace(ANSI, '');
    if (process.env.NF_CLI_TRANSCRIPT) await writeFile(process.env.NF_CLI_TRANSCRIPT, tty.out);
    // Redrawn in place (log-update erases the previous frame's lines), not appended.
    expect(tty.out).toMatch(/\x1b\[2K/);
    expect(plain).toMatch(/\[█{30}\] 100%\s+completed/);
    expect(plain).toMatch(/log \(last \d+ of \d+\):/);
    expect(plain).toMatch(new RegExp(`${id} completed in \\d+ s`));
    // At least one frame between paused and completed: the bar moved while we watched.
    const percents = [...plain.matchAll(/\] +(\d+)%\s+(\w+)/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(new Set(percents).size, percents.join(', ')).toBeGreaterThan(1);
  });
});
