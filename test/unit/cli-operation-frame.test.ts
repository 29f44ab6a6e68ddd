import { describe, expect, it } from 'vitest';
import type { Schema } from '../../lib/client';
import { operationFrame, progressBar } from '../../scripts/lib/cli-api';

/** What `nodefoundry operations get|watch` draws for an operation (scripts/lib/cli-api.ts). */
const T = '2026-12-05T09:00:00.000Z';
function op(over: Partial<Schema<'Operation'>> = {}): Schema<'Operation'> {
  return {
    id: 'op_01jf3k8m2q7r9s4t6v8w0x2ye1',
    type: 'cluster.upgrade',
    status: 'in_progress',
    progress: 40,
    current_step: 'upgrade_osd_hosts',
    steps: [],
    logs: [],
    created_at: T,
    started_at: T,
    completed_at: null,
    estimated_completion: null,
    error: null,
    result: null,
    cluster_id: 'clus_01jf3k8m2q7r9s4t6v8w0x2yc1',
    node_id: null,
    osd_id: null,
    params: {},
    request_id: 'req_1',
    cancel_requested_at: null,
    temporal: { workflow_id: 'w', run_id: null, ui_url: 'http://127.0.0.1:8233/x' },
    ...over,
  };
}

describe('operation frame', () => {
  it('a bar of 30 cells whose filled part is the progress, clamped to 0–100', () => {
    expect(progressBar(0)).toBe(`[${'░'.repeat(30)}]   0%`);
    expect(progressBar(50)).toBe(`[${'█'.repeat(15)}${'░'.repeat(15)}]  50%`);
    expect(progressBar(100)).toBe(`[${'█'.repeat(30)}] 100%`);
    expect(progressBar(140)).toBe(progressBar(100));
  });

  it('a 200-host upgrade: at most 12 step lines, the current one shown, the rest counted', () => {
    const steps = Array.from({ length: 200 }, (_, i) => ({
      name: `host_${i}`,
      status: i < 120 ? 'completed' : i === 120 ? 'in_progress' : 'pending',
      started_at: i <= 120 ? T : null,
      finished_at: i < 120 ? T : null,
    })) as Schema<'Operation'>['steps'];
    const lines = operationFrame(op({ steps }), 8);
    const stepLines = lines.slice(lines.indexOf('steps:') + 1);
    expect(stepLines).toHaveLength(12);
    expect(stepLines[0]).toBe('  … 118 earlier steps');
    expect(stepLines.find((l) => l.includes('host_120'))).toMatch(/^ {2}▶ host_120\s+in_progress 09:00:00 →$/);
    expect(stepLines[11]).toBe('  … 72 more steps');
  });

  it('the log tail is the last N lines; no line is wider than the terminal', () => {
    const logs = Array.from({ length: 20 }, (_, i) => ({ timestamp: T, message: `line ${i} ${'x'.repeat(200)}` }));
    const lines = operationFrame(op({ logs }), 5, 80);
    expect(lines).toContain('log (last 5 of 20):');
    expect(lines.filter((l) => l.startsWith('  09:00:00 line ')).map((l) => l.split(' ')[4])).toEqual([
      '15',
      '16',
      '17',
      '18',
      '19',
    ]);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(80);
  });

  it('a paused operation shows why; an ended one shows no eta', () => {
    const paused = operationFrame(
      op({ status: 'paused', error: { code: 'paused_by_request', message: 'Paused by request: window.' } }),
      8,
    );
    expect(paused[1]).toMatch(/^\[[█░]{30}\] {2}40% {2}paused {2}step upgrade_osd_hosts$/);
    expect(paused[2]).toBe('paused: paused_by_request: Paused by request: window.');
    const done = operationFrame(op({ status: 'completed', progress: 100, estimated_completion: T }), 8);
    expect(done[1]).toBe(`[${'█'.repeat(30)}] 100%  completed  step upgrade_osd_hosts`);
  });
});
