import { describe, expect, it } from 'vitest';
import { driftChecks, NF_CHECK } from '../../activities/monitor.activities';

/** NodeFoundry's drift checks (docs/api.md §Cluster health) from one round's reading and the running operations. */
describe('monitor drift checks', () => {
  const idle = { operations: [], openNooutSubjects: [] };
  const clean = { flags: [], nooutHosts: [], autoscaleFrozen: false };

  it('nothing set: no check', () => {
    expect(driftChecks('clus_a', clean, idle)).toEqual([]);
  });

  it('a noout a running operation recorded is owned; any other host is orphaned and named', () => {
    const running = { operations: [{ type: 'node.reboot' }], openNooutSubjects: ['clus_a/ceph-01'] };
    expect(driftChecks('clus_a', { ...clean, nooutHosts: ['ceph-01'] }, running)).toEqual([]);
    const checks = driftChecks('clus_a', { ...clean, nooutHosts: ['ceph-02', 'ceph-01'] }, running);
    expect(checks.map((c) => [c.code, c.source, c.severity])).toEqual([
      [NF_CHECK.nooutOrphaned, 'nodefoundry', 'HEALTH_WARN'],
    ]);
    expect(checks[0]!.summary).toContain('ceph-02');
    expect(checks[0]!.summary).not.toContain('ceph-01');
    // The subject is per cluster: another cluster's entry for the same host name owns nothing here.
    const other = { operations: [{ type: 'node.reboot' }], openNooutSubjects: ['clus_b/ceph-01'] };
    expect(driftChecks('clus_a', { ...clean, nooutHosts: ['ceph-01'] }, other).map((c) => c.code)).toEqual([
      NF_CHECK.nooutOrphaned,
    ]);
  });

  it('a host in maintenance mode owns its noout: no NF_NOOUT_ORPHANED for it, others still named', () => {
    const maint = { operations: [], openNooutSubjects: [], maintenanceHosts: ['ceph-03'] };
    expect(driftChecks('clus_a', { ...clean, nooutHosts: ['ceph-03'] }, maint)).toEqual([]);
    const checks = driftChecks('clus_a', { ...clean, nooutHosts: ['ceph-03', 'ceph-04'] }, maint);
    expect(checks.map((c) => c.code)).toEqual([NF_CHECK.nooutOrphaned]);
    expect(checks[0]!.summary).toContain('ceph-04');
    expect(checks[0]!.summary).not.toContain('ceph-03');
  });

  it('cluster-wide action flags are drift only while no operation runs; routine flags never', () => {
    const flagged = { ...clean, flags: ['noout', 'norebalance'] };
    expect(driftChecks('clus_a', flagged, idle).map((c) => c.code)).toEqual([NF_CHECK.flagsOrphaned]);
    expect(
      driftChecks('clus_a', flagged, { operations: [{ type: 'cluster.upgrade' }], openNooutSubjects: [] }),
    ).toEqual([]);
    expect(driftChecks('clus_a', { ...clean, flags: ['sortbitwise', 'recovery_deletes'] }, idle)).toEqual([]);
  });

  it('the autoscale freeze is drift unless an upgrade runs', () => {
    const frozen = { ...clean, autoscaleFrozen: true };
    expect(driftChecks('clus_a', frozen, idle).map((c) => c.code)).toEqual([NF_CHECK.autoscaleFrozenOrphaned]);
    expect(
      driftChecks('clus_a', frozen, { operations: [{ type: 'node.reboot' }], openNooutSubjects: [] }).map(
        (c) => c.code,
      ),
    ).toEqual([NF_CHECK.autoscaleFrozenOrphaned]);
    expect(driftChecks('clus_a', frozen, { operations: [{ type: 'cluster.upgrade' }], openNooutSubjects: [] })).toEqual(
      [],
    );
  });
});
