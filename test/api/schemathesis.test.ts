import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningWorker } from '../../worker/main';
import { nodeBody, startTestApi, type TestAccount, type TestApi } from '../helpers/api';
import { generateSshKey } from '../helpers/ssh-keys';
import { spawnCollecting, waitFor } from '../helpers/spawned';
import { startTestWorker } from '../helpers/worker';

/**
 * Schemathesis (issue 12 item 3) against the real stack: the API, a real worker with the sandbox
 * drivers, real Temporal and PostgreSQL. Every operation of /v1/openapi.json, every check, every
 * phase (examples, coverage, fuzzing, stateful), a fixed seed and a bounded number of examples:
 * zero failures. Which schemathesis: NF_SCHEMATHESIS_BIN, else the virtualenv .ci/run installs
 * (docs/development.md#schemathesis). Its absence is a failure with instructions, never a skip.
 */
const ST_BIN = process.env.NF_SCHEMATHESIS_BIN ?? path.join(homedir(), '.cache/nodefoundry/venv/bin/st');
/** Test cases per operation and phase; the seed makes a run reproducible (`st run --seed`). */
const MAX_EXAMPLES = Number(process.env.NF_SCHEMATHESIS_EXAMPLES ?? 25);
const SEED = Number(process.env.NF_SCHEMATHESIS_SEED ?? 20261205);
/** About 1.5 min on 2 idle cores; the bound allows for a loaded CI machine. */
const RUN_BUDGET_MS = 420_000;

let api: TestApi;
let worker: RunningWorker;
/** The account schemathesis works in: its own, so what it creates, changes or revokes touches nothing else. */
let fuzzed: TestAccount;
/** Another account, whose sandbox key only lists keys (see schemathesisConfig). */
let lister: TestAccount;
let reportDir: string;

beforeAll(async () => {
  if (!existsSync(ST_BIN)) {
    throw new Error(
      `schemathesis is not installed at ${ST_BIN}. Run \`bash .ci/run\` (it creates the virtualenv), or: ` +
        `python3 -m venv ~/.cache/nodefoundry/venv && ~/.cache/nodefoundry/venv/bin/pip install schemathesis==4.32.5 ` +
        '(or point NF_SCHEMATHESIS_BIN at an `st` binary).',
    );
  }
  api = await startTestApi();
  worker = await startTestWorker(api.config, api.db);
  fuzzed = await api.newAccount();
  lister = await api.newAccount();
  reportDir = await mkdtemp(path.join(tmpdir(), 'nf-schemathesis-'));
  await seedFuzzedAccount();
});

/**
 * Resources for the run to find: schemathesis reuses the ids it reads in list answers, so with three
 * ready sandbox nodes and a webhook in the account, the operations on a node or webhook id reach
 * their handlers (and start real workflows on the worker) instead of answering 404 only.
 */
async function seedFuzzedAccount(): Promise<void> {
  const privateKey = generateSshKey().privateKey;
  const nodeIds: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await api.request('POST', '/v1/nodes', { key: fuzzed.keys.test, body: nodeBody(privateKey) });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    nodeIds.push(r.body.data.id);
  }
  for (const id of nodeIds) {
    await waitFor(`node ${id} ready`, 60_000, async () => {
      const r = await api.request('GET', `/v1/nodes/${id}`, { key: fuzzed.keys.test });
      return r.body.data.status === 'ready' ? true : undefined;
    });
  }
  const hook = await api.request('POST', '/v1/webhooks', {
    key: fuzzed.keys.test,
    body: { url: 'http://127.0.0.1:9/nf', events: ['operation.completed'] },
  });
  expect(hook.status, JSON.stringify(hook.body)).toBe(201);
}
afterAll(async () => {
  await worker?.shutdown();
  await api?.close();
  if (reportDir && !process.env.NF_SCHEMATHESIS_KEEP) await rm(reportDir, { recursive: true, force: true });
});

/**
 * The run's configuration (schemathesis.toml), written per run because it holds the keys.
 *
 * Every operation runs with a sandbox key of the fuzzed account: it may create, change, cancel and
 * revoke what it likes there. One exception keeps the run from revoking its own key (a key may revoke
 * itself, as the API documents, and the run would then test nothing but 401s): schemathesis reuses
 * every id it reads in a response, so `GET /v1/api_keys` is sent with another account's sandbox key.
 * The run thus never reads the id of the key it uses; `DELETE /v1/api_keys/{id}` still revokes the
 * keys `POST /v1/api_keys` created (204) and answers 404 for the other account's ids.
 */
/**
 * The operations whose bodies the server checks further than their schema can say, each for a reason
 * listed in docs/api.md#what-the-document-cannot-say: for these only, a schema-valid request answered
 * 400 is not a failure of schemathesis' positive_data_acceptance check.
 */
const SEMANTIC_400 = [
  // ssh_private_key must be a key ssh2 can read; a live node's addresses must be allowed ones.
  'registerNode',
  // The URL must be http(s), without credentials, and its host must resolve to allowed addresses.
  'createWebhook',
  // admin_node_id must be one of node_ids.
  'importCluster',
];

function schemathesisConfig(): string {
  return [
    '[generation]',
    '# Examples found by earlier runs are not replayed: a run is what its seed makes of the document.',
    'database = "none"',
    '',
    '[cache]',
    '# Nor are the crashes of earlier runs (a cache in the working directory, which is the report directory).',
    'enabled = false',
    '',
    '[headers]',
    `Authorization = "Bearer ${fuzzed.keys.test}"`,
    '',
    // What a JSON Schema cannot say, the server checks after the schema and answers 400 naming the
    // field (docs/api.md#what-the-document-cannot-say): a schema-valid request may be refused there.
    '[[operations]]',
    `include-operation-id = [${SEMANTIC_400.map((o) => JSON.stringify(o)).join(', ')}]`,
    'checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]',
    '',
    '[[operations]]',
    'include-operation-id = "listApiKeys"',
    `headers = { Authorization = "Bearer ${lister.keys.test}" }`,
    '',
  ].join('\n');
}

describe('schemathesis', () => {
  it(
    'finds no failure of any check in any phase, on every operation of /v1/openapi.json',
    async () => {
      const config = path.join(reportDir, 'schemathesis.toml');
      await writeFile(config, schemathesisConfig());
      const args = [
        '--config-file',
        config,
        'run',
        `${api.base}/v1/openapi.json`,
        '--url',
        api.base,
        '--checks',
        'all',
        '--phases',
        'examples,coverage,fuzzing,stateful',
        '--seed',
        String(SEED),
        '--max-examples',
        String(MAX_EXAMPLES),
        '--workers',
        '2',
        '--no-color',
        '--output-sanitize',
        'false',
        '--request-timeout',
        '30',
        '--report',
        'junit,ndjson',
        '--report-junit-path',
        path.join(reportDir, 'junit.xml'),
        '--report-ndjson-path',
        path.join(reportDir, 'events.ndjson'),
      ];
      const run = spawnCollecting(ST_BIN, args, {
        cwd: reportDir,
        env: { ...process.env, NO_COLOR: '1' },
      });
      try {
        await waitFor(
          'schemathesis to finish',
          RUN_BUDGET_MS,
          () => (run.exitCode === undefined ? undefined : true),
          500,
        );
      } finally {
        if (run.exitCode === undefined) run.child.kill('SIGKILL');
      }
      const out = run.out;
      // The summary figures, for the log (and the closing note).
      const summary = out.slice(Math.max(0, out.lastIndexOf('SUMMARY') - 1)).trim();
      console.log(`schemathesis ${args.slice(2, 4).join(' ')} … exit ${run.exitCode}\n${summary || out.slice(-4000)}`);
      if (process.env.NF_SCHEMATHESIS_KEEP) console.log(`full output and reports kept in ${reportDir}`);
      const junit = await readFile(path.join(reportDir, 'junit.xml'), 'utf8').catch(() => '');
      expect(junit, 'schemathesis wrote its JUnit report').toContain('<testsuite');
      expect(run.exitCode, out.slice(-20_000)).toBe(0);
      // Every operation tested, every phase passed, every generated case passed.
      const operations = /Selected: (\d+)\/(\d+)\s+Tested: (\d+)/.exec(summary);
      expect(operations, summary).not.toBeNull();
      expect(operations![3]).toBe(operations![2]);
      for (const phase of ['Examples', 'Coverage', 'Fuzzing', 'Stateful']) expect(summary).toContain(`✅ ${phase}`);
      const cases = /(\d+) generated, (\d+) passed/.exec(summary);
      expect(cases, summary).not.toBeNull();
      expect(cases![2]).toBe(cases![1]);
      expect(summary).not.toContain('Failures:');
    },
    RUN_BUDGET_MS + 60_000,
  );
});
