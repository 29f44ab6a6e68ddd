import { describe, expect, it } from 'vitest';
import {
  boundedHostnames,
  clipSummary,
  HOSTNAMES_ATTRIBUTE_MAX_BYTES,
  hostList,
  SUMMARY_MAX_CHARS,
  withHosts,
  workflowDetails,
} from '../../lib/workflow-summary';

const hosts = (n: number) => Array.from({ length: n }, (_, i) => `storage-${String(i + 1).padStart(3, '0')}`);

describe('workflow summaries (Temporal user metadata)', () => {
  it('lists every host when they fit, else the first ones and how many more', () => {
    expect(hostList(['a', 'b', 'c'])).toBe('a, b, c');
    expect(hostList([])).toBe('no hosts');
    const many = hostList(hosts(200), 60);
    expect(many).toMatch(/^storage-001, storage-002, .* and \d+ more$/);
    expect(many.length).toBeLessThanOrEqual(60);
    // One host at least, even when the budget is tiny.
    expect(hostList(hosts(5), 3)).toBe('storage-001 and 4 more');
  });

  it('keeps a 200-host upgrade summary within the limit, naming the cluster and the first hosts', () => {
    const s = withHosts('Rolling upgrade to squid of prod-a (≤ 2 at once)', hosts(200));
    expect(s.length).toBeLessThanOrEqual(SUMMARY_MAX_CHARS);
    expect(s).toMatch(/^Rolling upgrade to squid of prod-a \(≤ 2 at once\): storage-001, .* and \d+ more$/);
  });

  it('clips to one line of at most SUMMARY_MAX_CHARS characters', () => {
    expect(clipSummary('Monitor\n cluster   a')).toBe('Monitor cluster a');
    const long = clipSummary('x'.repeat(500));
    expect([...long]).toHaveLength(SUMMARY_MAX_CHARS);
    expect(long.endsWith('…')).toBe(true);
  });

  it('details name every host and the cluster with their ids', () => {
    const d = workflowDetails({
      title: 'NodeFoundry operation op_1 (cluster.delete)',
      cluster: { id: 'clus_1', name: 'prod-a' },
      hosts: [
        { id: 'node_1', hostname: 'storage-01' },
        { id: 'node_2', hostname: 'storage-02' },
      ],
      lines: ['request: req_1'],
    });
    expect(d).toBe(
      'NodeFoundry operation op_1 (cluster.delete)\n\n- cluster: prod-a (clus_1)\n- hosts: storage-01 (node_1), storage-02 (node_2)\n- request: req_1',
    );
  });
});

describe('boundedHostnames (the NfHostnames search attribute)', () => {
  it('keeps every hostname of a small operation, in order', () => {
    const hosts = ['storage-01', 'storage-02', 'storage-03'].map((hostname) => ({ hostname }));
    expect(boundedHostnames(hosts)).toEqual(['storage-01', 'storage-02', 'storage-03']);
  });

  it("stays under Temporal's 2 KB per value for 200 and 5,000 hosts of long names, keeping the first", () => {
    for (const count of [200, 5000]) {
      const hosts = Array.from({ length: count }, (_, i) => ({
        hostname: `rack-${i}-storage-node-with-a-long-name-${i}`,
      }));
      const kept = boundedHostnames(hosts);
      expect(new TextEncoder().encode(JSON.stringify(kept)).length).toBeLessThanOrEqual(HOSTNAMES_ATTRIBUTE_MAX_BYTES);
      expect(kept.length).toBeGreaterThan(10);
      expect(kept).toEqual(hosts.slice(0, kept.length).map((h) => h.hostname));
    }
  });
});
