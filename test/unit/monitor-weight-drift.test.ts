import { describe, expect, it } from 'vitest';
import {
  NF_OSD_WEIGHT_DRIFT,
  WEIGHT_TOLERANCE_TIB,
  weightDriftCheck,
  weightDrifts,
} from '../../activities/monitor-weight-drift';

/** NF_OSD_WEIGHT_DRIFT (docs/api.md §Cluster health): Ceph's CRUSH weights against what NodeFoundry left. */
describe('monitor: OSD weight drift', () => {
  const osds = [
    { id: 0, host: 'ceph-01', crush_weight: 0.97659 },
    { id: 1, host: 'ceph-02', crush_weight: 0.5 },
    { id: 2, host: 'ceph-03', crush_weight: 0 },
  ];
  const expected = (w: Record<number, number>) =>
    Object.entries(w).map(([id, x]) => ({ osd_id: Number(id), expected_crush_weight: x }));

  it('equal weights (within the 16.16 fixed point Ceph stores) are no drift', () => {
    expect(weightDrifts(osds, expected({ 0: 0.97659, 1: 0.5, 2: 0 }))).toEqual([]);
    // `ceph osd crush reweight osd.0 0.97659` reads back as the nearest 1/65536.
    expect(weightDrifts(osds, expected({ 0: Math.round(0.97659 * 65536) / 65536 }))).toEqual([]);
    expect(WEIGHT_TOLERANCE_TIB).toBeGreaterThan(1 / 65536);
  });

  it('a weight changed by hand is drift, with both weights; unknown expected weights and OSDs gone are not compared', () => {
    const d = weightDrifts(osds, expected({ 0: 0.97659, 1: 0.97659, 7: 1 }));
    expect(d).toEqual([{ osdId: 1, host: 'ceph-02', observed: 0.5, expected: 0.97659 }]);
    // A drained OSD (0) left at 0 by its completed drain is what NodeFoundry left: no drift.
    expect(weightDrifts(osds, expected({ 2: 0 }))).toEqual([]);
    // …but one at 0 that NodeFoundry left at its full weight is.
    expect(weightDrifts(osds, expected({ 2: 0.97659 })).map((x) => x.osdId)).toEqual([2]);
  });

  it('the check is raised only while no operation runs, and names each OSD with both weights', () => {
    const d = weightDrifts(osds, expected({ 1: 0.97659, 2: 0.97659 }));
    expect(weightDriftCheck(d, 1)).toBeNull();
    expect(weightDriftCheck([], 0)).toBeNull();
    const c = weightDriftCheck(d, 0)!;
    expect(c).toMatchObject({ code: NF_OSD_WEIGHT_DRIFT, source: 'nodefoundry', severity: 'HEALTH_WARN' });
    expect(c.summary).toContain('osd.1 (ceph-02) is at 0.5 TiB, NodeFoundry left it at 0.97659 TiB');
    expect(c.summary).toContain('osd.2 (ceph-03) is at 0 TiB, NodeFoundry left it at 0.97659 TiB');
    expect(c.summary).not.toContain('osd.0');
  });

  it('a long list is cut after ten OSDs with the count of the rest', () => {
    const many = Array.from({ length: 13 }, (_, i) => ({ id: i, host: `h${i}`, crush_weight: 0.1 }));
    const c = weightDriftCheck(
      weightDrifts(
        many,
        many.map((o) => ({ osd_id: o.id, expected_crush_weight: 1 })),
      ),
      0,
    )!;
    expect(c.summary).toContain('osd.9 (h9)');
    expect(c.summary).not.toContain('osd.10 ');
    expect(c.summary).toMatch(/, and 3 more$/);
  });
});
