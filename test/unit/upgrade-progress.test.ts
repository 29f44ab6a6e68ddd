import { describe, expect, it } from 'vitest';
import { upgradeFraction, upgradeUnits } from '../../lib/plans/progress';

/** An upgrade's progress in units of work: each mgr, each mon and each OSD host counts one. */
describe('rolling upgrade progress', () => {
  // 2 mgrs (1 standby + the active), 3 mons, 5 OSD hosts: 10 units.
  const units = upgradeUnits({
    mgrStandbys: ['mgr-b'],
    mgrActive: 'mgr-a',
    mons: ['mon-a', 'mon-b', 'mon-c'],
    hosts: [1, 2, 3, 4, 5],
  });

  it('counts the plan: mgrs (standbys and the active), mons and hosts', () => {
    expect(units).toEqual({ mgrs: 2, mons: 3, hosts: 5 });
    expect(upgradeUnits({ mgrStandbys: [], mgrActive: null, mons: [], hosts: [] })).toEqual({
      mgrs: 0,
      mons: 0,
      hosts: 0,
    });
  });

  it('moves through the mgr/mon phase instead of staying at 0 until the first host', () => {
    const seen = [0, 1, 2, 3, 4, 5].map((daemons) => upgradeFraction(units, daemons, 0));
    expect(seen).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5]);
  });

  it('then goes by hosts, reaching 1 with the last one', () => {
    expect(upgradeFraction(units, 5, 1)).toBeCloseTo(0.6);
    expect(upgradeFraction(units, 5, 4)).toBeCloseTo(0.9);
    expect(upgradeFraction(units, 5, 5)).toBe(1);
    // Never past the plan (a retried host is not counted twice).
    expect(upgradeFraction(units, 9, 9)).toBe(1);
  });

  it('a restart or an upgrade with no daemons is all hosts; nothing to do is done', () => {
    const hostsOnly = { mgrs: 0, mons: 0, hosts: 4 };
    expect(upgradeFraction(hostsOnly, 0, 1)).toBe(0.25);
    expect(upgradeFraction({ mgrs: 0, mons: 0, hosts: 0 }, 0, 0)).toBe(1);
  });
});
