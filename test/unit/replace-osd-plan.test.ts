import { describe, expect, it } from 'vitest';
import { replacePlan, type ReplaceFacts } from '../../lib/plans/replace-osd.planner';

/** The disk replacement's plan (dry run and the workflow's preflight gate) from Ceph's facts. */
type OsdFacts = NonNullable<ReplaceFacts['osd']>;
const facts = (over: Omit<Partial<ReplaceFacts>, 'osd'> & { osd?: Partial<OsdFacts> | null } = {}): ReplaceFacts => {
  const { osd, ...rest } = over;
  const base: OsdFacts = { id: 3, host: 'n2', device: 'sdb', up: true, crush_weight: 0.5, device_weight: 1, pgs: 40 };
  return {
    clusterId: 'clus_x',
    nodeId: 'node_x',
    safeToDestroy: { safe: false, reason: 'osd.3 has 40 PGs currently mapped to it' },
    newDevice: null,
    unplaceable: [],
    ...rest,
    osd: osd === null ? null : { ...base, ...osd },
  };
};

describe('replacePlan', () => {
  it('an up OSD holding data is drained first: drain and safe_to_destroy steps, then destroy, recreate on the same slot, weight, backfill, inventory', () => {
    const p = replacePlan(facts(), { osdId: 3, device: null });
    expect(p.would_run).toBe(true);
    expect(p.steps.map((s) => s.name)).toEqual([
      'preflight',
      'drain',
      'safe_to_destroy',
      'destroy',
      'recreate',
      'restore_weight',
      'wait_backfill',
      'refresh_inventory',
    ]);
    expect(p.facts).toMatchObject({ mode: 'drain', new_device: 'sdb', same_slot: true, original_weight: 0.5 });
  });

  it('a failed OSD that Ceph does not call safe to destroy is refused with its reason; once safe it plans without a drain', () => {
    const refused = replacePlan(facts({ osd: { up: false } }), { osdId: 3, device: null });
    expect(refused.would_run).toBe(false);
    expect(refused.refusals).toEqual([
      {
        code: 'not_safe_to_destroy',
        message: expect.stringContaining(
          'osd.3 is down and Ceph does not call it safe to destroy (osd.3 has 40 PGs currently mapped to it)',
        ),
      },
    ]);
    const ok = replacePlan(facts({ osd: { up: false, pgs: 0 }, safeToDestroy: { safe: true, reason: null } }), {
      osdId: 3,
      device: null,
    });
    expect(ok.refusals).toEqual([]);
    expect(ok.steps.map((s) => s.name)).not.toContain('drain');
    expect(ok.facts).toMatchObject({ mode: 'failed' });
  });

  it('a new device must be on the host and available; the OSD must exist; a drain CRUSH cannot finish is refused', () => {
    expect(replacePlan(facts(), { osdId: 3, device: 'sdz' }).refusals).toEqual([
      { code: 'device_not_available', message: 'Host n2 has no device /dev/sdz.' },
    ]);
    const busy = replacePlan(
      facts({ newDevice: { device: 'sdc', available: false, rejected_reasons: ['has a ext4 signature'] } }),
      { osdId: 3, device: 'sdc' },
    );
    expect(busy.refusals[0]).toMatchObject({
      code: 'device_not_available',
      message: expect.stringContaining('has a ext4 signature'),
    });
    const free = replacePlan(facts({ newDevice: { device: 'sdc', available: true, rejected_reasons: [] } }), {
      osdId: 3,
      device: 'sdc',
    });
    expect(free.refusals).toEqual([]);
    expect(free.facts).toMatchObject({ new_device: 'sdc', same_slot: false, old_device: 'sdb' });
    expect(replacePlan(facts({ osd: null }), { osdId: 3, device: null }).refusals[0]!.code).toBe('osd_not_found');
    expect(replacePlan(facts({ osd: { device: null } }), { osdId: 3, device: null }).refusals[0]!.code).toBe(
      'device_not_available',
    );
    expect(replacePlan(facts({ unplaceable: ['1.a'] }), { osdId: 3, device: null }).refusals[0]!.code).toBe(
      'drain_cannot_finish',
    );
  });
});
