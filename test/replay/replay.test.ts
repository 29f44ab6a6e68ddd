import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { inject, describe, expect, it } from 'vitest';
import * as workflows from '../../workflows';

/**
 * Recorded histories of real runs, replayed against today's workflow code: a change that would
 * break a running operation (a reordered activity, a renamed step) fails here, not in production.
 * Record new ones with NF_RECORD_HISTORIES=1 npm test (test/workflows writes them).
 */
const DIR = path.resolve(__dirname, 'histories');

// Replay workers log every state change at INFO; only problems matter here.
Runtime.install({ logger: new DefaultLogger('WARN') });

describe('recorded workflow histories replay against the current code', async () => {
  const files = (await readdir(DIR)).filter((f) => f.endsWith('.json')).sort();

  it('has at least one recorded history of each workflow type', () => {
    const types = new Set(files.map((f) => f.split('--')[0]));
    // Every workflow the worker serves, except the read-only dry-run workflow (it changes nothing).
    const served = Object.keys(workflows).filter((t) => t !== 'planOperationWorkflow');
    expect(served.length).toBeGreaterThanOrEqual(8);
    for (const t of served) expect(types, `no recorded history of ${t}`).toContain(t);
  });

  it.each(files)('%s', async (file) => {
    const history = JSON.parse(await readFile(path.join(DIR, file), 'utf8'));
    const workflowId = file.replace(/\.json$/, '');
    // runReplayHistory throws DeterminismViolationError (or the workflow's own error) on a mismatch.
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, workflowId);
  });
});
