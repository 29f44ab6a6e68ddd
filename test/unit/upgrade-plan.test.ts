import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  interpretMonOkToStop,
  parseCephVersions,
  parseDaemonMetadata,
  parseMgrDump,
  parseNoAutoscale,
} from '../../drivers/real/ceph-cli-upgrade';
import { parseHealthChecks } from '../../drivers/real/ceph-json';
import { DriverError } from '../../drivers/types';
import {
  compareCephVersions,
  parseCephVersion,
  sandboxVersionString,
  satisfiesTarget,
  supportedUpgradeTargets,
  upgradePathRefusal,
} from '../../lib/ceph-releases';
import {
  blockingErrChecks,
  nextBatch,
  planBatches,
  summariseDaemonVersions,
  upgradePlan,
  type UpgradeFacts,
  type UpgradeParams,
} from '../../lib/plans/upgrade-cluster.planner';

const fixture = (name: string) => readFileSync(path.resolve(__dirname, '../fixtures/ceph', name), 'utf8');

function facts(over: Partial<UpgradeFacts> = {}, hosts = 4, release = 'reef'): UpgradeFacts {
  const names = Array.from({ length: hosts }, (_, i) => `h${i + 1}`);
  const v = parseCephVersion(sandboxVersionString(release))!.version!;
  return {
    clusterId: 'clus_x',
    cephVersion: release,
    health: 'HEALTH_OK',
    mons: names.slice(0, 3),
    monsInQuorum: names.slice(0, 3),
    mgrActive: 'h1',
    mgrStandbys: ['h2'],
    hosts: names.map((h, i) => ({
      hostname: h,
      nodeId: `node_${i}`,
      nodeStatus: 'online',
      held: false,
      osdIds: [2 * i, 2 * i + 1],
      osdsDown: [],
      mon: i < 3,
      mgr: i < 2,
    })),
    daemons: [
      ...names.slice(0, 3).map((h) => ({ type: 'mon' as const, id: h, host: h, version: v, release })),
      ...names.slice(0, 2).map((h) => ({ type: 'mgr' as const, id: h, host: h, version: v, release })),
      ...names.flatMap((h, i) =>
        [2 * i, 2 * i + 1].map((id) => ({ type: 'osd' as const, id: String(id), host: h, version: v, release })),
      ),
    ],
    noAutoscale: false,
    ...over,
  };
}
const params = (over: Partial<UpgradeParams> = {}): UpgradeParams => ({
  targetVersion: 'squid',
  mode: 'upgrade',
  maxConcurrent: 1,
  osPackages: false,
  ...over,
});
const codes = (f: UpgradeFacts, p: UpgradeParams) => upgradePlan(f, p).plan.refusals.map((r) => r.code);

describe('upgrade planner (the one the dry run and the real run share)', () => {
  it('a member in maintenance refuses the upgrade by name; with skipMaintenance its mgr, mon and OSDs are left out and named', () => {
    const inMaint = (f: UpgradeFacts) => ({
      ...f,
      hosts: f.hosts.map((h) => (h.hostname === 'h2' ? { ...h, nodeStatus: 'maintenance', osdsDown: h.osdIds } : h)),
    });
    const refused = upgradePlan(inMaint(facts()), params());
    expect(refused.plan.refusals.map((r) => [r.code, r.message])).toEqual([
      ['node_in_maintenance', expect.stringContaining('Host h2 is in maintenance') as unknown as string],
    ]);
    const { plan, schedule } = upgradePlan(inMaint(facts()), params({ skipMaintenance: true, maxConcurrent: 4 }));
    expect(plan.refusals).toEqual([]);
    expect(schedule).toMatchObject({
      mgrStandbys: [],
      mgrActive: 'h1',
      mons: ['h1', 'h3'],
      skipped: ['h2'],
      skippedOsds: [2, 3],
    });
    expect(schedule.hosts.map((h) => h.host)).toEqual(['h1', 'h3', 'h4']);
    expect(plan.facts).toMatchObject({ skipped_hosts: ['h2'], hosts_total: 3 });
    // Without a host in maintenance the flag changes nothing.
    expect(upgradePlan(facts(), params({ skipMaintenance: true })).schedule).toEqual(
      upgradePlan(facts(), params()).schedule,
    );
  });

  it('plans the same from the per-host summary of daemon versions as from every daemon, in a size that grows with hosts, not OSDs', () => {
    // An interrupted upgrade: h1 fully on squid, h2's mgr and one of its OSDs on squid, the rest on reef.
    const squid = parseCephVersion(sandboxVersionString('squid'))!.version!;
    const mixed = facts({}, 6);
    mixed.daemons = mixed.daemons.map((d) =>
      d.host === 'h1' || (d.host === 'h2' && (d.type === 'mgr' || d.id === '2'))
        ? { ...d, version: squid, release: 'squid' }
        : d,
    );
    const summary = summariseDaemonVersions(mixed.daemons);
    expect(summary.length).toBeLessThan(mixed.daemons.length);
    expect(summary.find((d) => d.type === 'osd' && d.host === 'h2' && d.release === 'reef')).toMatchObject({
      count: 1,
    });
    expect(summary.reduce((n, d) => n + (d.count ?? 1), 0)).toBe(mixed.daemons.length);
    for (const p of [
      params({ maxConcurrent: 2 }),
      params({ mode: 'restart', maxConcurrent: 3 }),
      params({ targetVersion: 'tentacle' }),
    ]) {
      const full = upgradePlan(mixed, p);
      const summarised = upgradePlan({ ...mixed, daemons: summary }, p);
      expect(summarised.schedule).toEqual(full.schedule);
      expect(summarised.plan).toEqual(full.plan);
    }
    // h1 is done: no OSD host batch holds it; h2 still needs its reef OSD.
    const hostsToDo = upgradePlan({ ...mixed, daemons: summary }, params()).schedule.hosts.map((h) => h.host);
    expect(hostsToDo).not.toContain('h1');
    expect(hostsToDo).toContain('h2');
    // Pawsey's size, 180 hosts x 24 OSDs on one version: one entry per host and daemon type.
    const big = facts({}, 180);
    const v = big.daemons[0]!.version;
    big.daemons = big.hosts.flatMap((h, i) =>
      Array.from({ length: 24 }, (_, k) => ({
        type: 'osd' as const,
        id: String(i * 24 + k),
        host: h.hostname,
        version: v,
        release: 'reef',
      })),
    );
    const bytes = (x: unknown) => Buffer.byteLength(JSON.stringify(x));
    expect(summariseDaemonVersions(big.daemons)).toHaveLength(180);
    expect(bytes(summariseDaemonVersions(big.daemons))).toBeLessThan(bytes(big.daemons) / 10);
  });

  it('orders mgr standbys, the active mgr, mons, then OSD hosts in batches', () => {
    const { plan, schedule } = upgradePlan(facts(), params({ maxConcurrent: 3 }));
    expect(plan.would_run).toBe(true);
    expect(schedule).toMatchObject({ target: 'squid', mgrStandbys: ['h2'], mgrActive: 'h1', mons: ['h1', 'h2', 'h3'] });
    expect(plan.batches).toEqual([['h1', 'h4'], ['h2'], ['h3']]);
  });

  it('batches hold at most max_concurrent hosts and at most one mon host', () => {
    const q = [
      { host: 'a', mon: true },
      { host: 'b', mon: true },
      { host: 'c', mon: false },
      { host: 'd', mon: false },
      { host: 'e', mon: false },
    ];
    expect(nextBatch(q, 3).map((h) => h.host)).toEqual(['a', 'c', 'd']);
    expect(planBatches(q, 3)).toEqual([
      ['a', 'c', 'd'],
      ['b', 'e'],
    ]);
    expect(planBatches(q, 1)).toEqual([['a'], ['b'], ['c'], ['d'], ['e']]);
  });

  it('refuses HEALTH_ERR, a mon out of quorum, an offline host, < 2 mgrs, held nodes', () => {
    expect(codes(facts({ health: 'HEALTH_ERR' }), params())).toEqual(['health_err']);
    expect(codes(facts({ monsInQuorum: ['h1', 'h2'] }), params())).toEqual(['mon_out_of_quorum']);
    const f = facts();
    f.hosts[3]!.osdsDown = [...f.hosts[3]!.osdIds];
    expect(codes(f, params())).toEqual(['host_offline']);
    expect(codes(facts({ mgrStandbys: [] }), params())).toEqual(['too_few_mgrs']);
    const held = facts();
    held.hosts[1]!.held = true;
    expect(codes(held, params())).toEqual(['node_held']);
  });

  it('refuses downgrades and jumps of more than two releases; allows two', () => {
    expect(codes(facts(), params({ targetVersion: 'quincy' }))).toEqual(['downgrade_refused']);
    expect(codes(facts(), params({ targetVersion: '18.2.0' }))).toEqual(['downgrade_refused']);
    expect(codes(facts({}, 4, 'pacific'), params({ targetVersion: 'squid' }))).toEqual(['version_jump_too_large']);
    expect(codes(facts({}, 4, 'pacific'), params({ targetVersion: 'reef' }))).toEqual([]);
    expect(codes(facts(), params({ targetVersion: 'jewel' }))).toEqual(['unknown_version']);
    // No version given: the next release.
    expect(upgradePlan(facts(), params({ targetVersion: null })).schedule.target).toBe('squid');
  });

  it('skips daemons and hosts already at the target, so a re-run after a cancel resumes', () => {
    const f = facts();
    const squid = parseCephVersion(sandboxVersionString('squid'))!.version!;
    for (const d of f.daemons)
      if (d.type !== 'osd' || d.host === 'h1') Object.assign(d, { version: squid, release: 'squid' });
    const { schedule } = upgradePlan(f, params());
    expect(schedule.mgrStandbys).toEqual([]);
    expect(schedule.mgrActive).toBeNull();
    expect(schedule.mons).toEqual([]);
    expect(schedule.hosts.map((h) => h.host)).toEqual(['h2', 'h3', 'h4']);
    // A restart touches everything at the running version.
    const r = upgradePlan(facts(), params({ mode: 'restart', targetVersion: null }));
    expect(r.schedule.target).toBe('18.2.4');
    expect(r.schedule.hosts).toHaveLength(4);
    expect(codes(facts(), params({ mode: 'restart', targetVersion: 'squid' }))).toEqual(['invalid_state']);
  });
});

describe('supported upgrade paths (issue 10)', () => {
  const refusal = (release: string, target: string) =>
    upgradePlan(facts({}, 4, release), params({ targetVersion: target })).plan.refusals;

  it('reef → squid, reef → tentacle and squid → tentacle are planned', () => {
    expect(refusal('reef', 'squid')).toEqual([]);
    expect(refusal('reef', 'tentacle')).toEqual([]);
    expect(refusal('squid', 'tentacle')).toEqual([]);
    expect(refusal('reef', '20.2.4')).toEqual([]);
    expect(upgradePlan(facts({}, 4, 'reef'), params({ targetVersion: 'tentacle' })).schedule.target).toBe('tentacle');
    // No version asked: the next release.
    expect(upgradePlan(facts({}, 4, 'squid'), params({ targetVersion: null })).schedule.target).toBe('tentacle');
    expect(supportedUpgradeTargets('reef')).toEqual(['squid', 'tentacle']);
    expect(supportedUpgradeTargets('squid')).toEqual(['tentacle']);
  });

  it('never a downgrade: tentacle → squid, tentacle → reef, squid → reef', () => {
    for (const [from, to] of [
      ['tentacle', 'squid'],
      ['tentacle', 'reef'],
      ['squid', 'reef'],
    ] as const) {
      const r = refusal(from, to);
      expect(r.map((x) => x.code)).toEqual(['downgrade_refused']);
      expect(r[0]!.message).toContain('Downgrades are not supported');
    }
  });

  it('older releases keep at most two majors, and the refusal names the supported next step', () => {
    const r = refusal('quincy', 'tentacle');
    expect(r.map((x) => x.code)).toEqual(['version_jump_too_large']);
    expect(r[0]!.message).toBe(
      'quincy → tentacle is not a supported Ceph upgrade path (3 major releases): quincy → reef or quincy → squid are the supported next steps. Upgrade in steps.',
    );
    expect(refusal('pacific', 'tentacle')[0]!.message).toContain(
      'pacific → quincy or pacific → reef are the supported next steps',
    );
    expect(refusal('quincy', 'squid')).toEqual([]);
    expect(upgradePathRefusal('tentacle', 'tentacle')).toBeNull();
    // Nothing newer than tentacle is known: no version asked is refused with the reason.
    expect(upgradePlan(facts({}, 4, 'tentacle'), params({ targetVersion: null })).plan.refusals[0]!.message).toBe(
      'No release after tentacle is known; give ceph_version.',
    );
  });
});

describe("the HEALTH_ERR gate and Tentacle's AUTH_INSECURE checks (issue 10)", () => {
  const auth = [
    {
      code: 'AUTH_INSECURE_SERVICE_KEY_TYPE',
      severity: 'HEALTH_ERR' as const,
      summary: '5 auth service entities with insecure key types',
    },
    {
      code: 'AUTH_INSECURE_SERVICE_TICKETS',
      severity: 'HEALTH_ERR' as const,
      summary: 'Monitors are configured to issue insecure service tickets',
    },
    {
      code: 'OSD_UPGRADE_FINISHED',
      severity: 'HEALTH_WARN' as const,
      summary: 'all OSDs are running tentacle or later but require_osd_release < tentacle',
    },
  ];
  const other = { code: 'OSD_FULL', severity: 'HEALTH_ERR' as const, summary: '1 full osd(s)' };

  it('an upgrade to tentacle is planned on a HEALTH_ERR made only of AUTH_INSECURE_* checks (a resumed one, half done)', () => {
    expect(codes(facts({ health: 'HEALTH_ERR', checks: auth }), params({ targetVersion: 'tentacle' }))).toEqual([]);
    expect(blockingErrChecks('HEALTH_ERR', auth, 'tentacle')).toEqual([]);
  });

  it('any other ERR check still refuses, named in the message; AUTH_INSECURE_* is not expected on the way to squid', () => {
    const r = upgradePlan(
      facts({ health: 'HEALTH_ERR', checks: [...auth, other] }),
      params({ targetVersion: 'tentacle' }),
    ).plan.refusals;
    expect(r.map((x) => x.code)).toEqual(['health_err']);
    expect(r[0]!.message).toBe(
      'The cluster reports HEALTH_ERR (OSD_FULL (1 full osd(s))); resolve it before upgrading.',
    );
    expect(blockingErrChecks('HEALTH_ERR', auth, 'squid').map((c) => c.code)).toEqual([
      'AUTH_INSECURE_SERVICE_KEY_TYPE',
      'AUTH_INSECURE_SERVICE_TICKETS',
    ]);
    // HEALTH_ERR without its checks (an old reader) refuses as before.
    expect(codes(facts({ health: 'HEALTH_ERR' }), params({ targetVersion: 'tentacle' }))).toEqual(['health_err']);
  });

  it('real samples: the mixed reef/tentacle cluster and the all-tentacle one before require-osd-release pass the gate to tentacle', () => {
    for (const name of ['reef-tentacle-mixed.health_detail.json', 'tentacle-before-require.health_detail.json']) {
      const h = parseHealthChecks(JSON.parse(fixture(name)));
      expect(h.status).toBe('HEALTH_ERR');
      expect(h.checks.map((c) => c.code)).toContain('AUTH_INSECURE_SERVICE_KEY_TYPE');
      expect(blockingErrChecks(h.status, h.checks, 'tentacle')).toEqual([]);
      expect(blockingErrChecks(h.status, h.checks, 'squid').length).toBeGreaterThan(0);
    }
    const mixed = parseHealthChecks(JSON.parse(fixture('reef-tentacle-mixed.health_detail.json')));
    expect(mixed.checks.find((c) => c.code === 'AUTH_INSECURE_SERVICE_TICKETS')).toEqual({
      code: 'AUTH_INSECURE_SERVICE_TICKETS',
      severity: 'HEALTH_ERR',
      summary: 'Monitors are configured to issue insecure service tickets',
    });
  });
});

describe('Ceph version strings', () => {
  it('parses releases, versions and ceph versions lines, and orders them', () => {
    expect(
      parseCephVersion('ceph version 16.2.15 (618f440892089921c3e944a991122ddc44e60516) pacific (stable)'),
    ).toEqual({ version: '16.2.15', release: 'pacific', major: 16 });
    expect(parseCephVersion('squid')).toEqual({ version: null, release: 'squid', major: 19 });
    expect(parseCephVersion('9.2.1')).toBeNull();
    expect(compareCephVersions(parseCephVersion('18.2.4')!, parseCephVersion('18.2.10')!)).toBeLessThan(0);
  });

  it('parses the real Reef 18.2.7 and Tentacle 20.2.4 strings (Debian trixie and sid)', () => {
    expect(parseCephVersion('ceph version 18.2.7 (6b0e988052ec84cf2d4a54ff9bbbc5e720b621ad) reef (stable)')).toEqual({
      version: '18.2.7',
      release: 'reef',
      major: 18,
    });
    expect(
      parseCephVersion(
        'ceph version 20.2.4 (7f793731f1b39eb4f465e960113d2363c311b964) tentacle (stable - RelWithDebInfo)',
      ),
    ).toEqual({ version: '20.2.4', release: 'tentacle', major: 20 });
    // `ceph_version_short` in `ceph <type> metadata`.
    expect(parseCephVersion('20.2.4')).toMatchObject({ release: 'tentacle' });
    expect(satisfiesTarget(parseCephVersion('20.2.4')!, parseCephVersion('tentacle')!)).toBe(true);
    expect(satisfiesTarget(parseCephVersion('18.2.7')!, parseCephVersion('tentacle')!)).toBe(false);
  });
});

describe('ceph CLI upgrade parsers (real output)', () => {
  it('ceph versions', () => {
    const v = parseCephVersions(fixture('versions.json'));
    const line = 'ceph version 16.2.15 (618f440892089921c3e944a991122ddc44e60516) pacific (stable)';
    expect(v).toEqual({ mon: { [line]: 1 }, mgr: { [line]: 1 }, osd: { [line]: 3 }, overall: { [line]: 5 } });
    expect(() => parseCephVersions('{"mon":{}}')).toThrow(DriverError);
  });

  it('ceph versions of the real mixed reef/tentacle cluster (after node 1 of 3)', () => {
    const v = parseCephVersions(fixture('reef-tentacle-mixed.versions.json'));
    const reef = 'ceph version 18.2.7 (6b0e988052ec84cf2d4a54ff9bbbc5e720b621ad) reef (stable)';
    const tentacle =
      'ceph version 20.2.4 (7f793731f1b39eb4f465e960113d2363c311b964) tentacle (stable - RelWithDebInfo)';
    expect(v.mon).toEqual({ [reef]: 2, [tentacle]: 1 });
    expect(v.osd).toEqual({ [reef]: 2, [tentacle]: 1 });
    expect(v.overall).toEqual({ [reef]: 5, [tentacle]: 3 });
    expect(Object.keys(v.overall).map((k) => parseCephVersion(k)?.release)).toEqual(['reef', 'tentacle']);
    const after = parseCephVersions(fixture('tentacle-all.versions.json'));
    expect(Object.keys(after.overall).map((k) => parseCephVersion(k)?.version)).toEqual(['20.2.4']);
  });

  it('mon/osd metadata → per-daemon host and version', () => {
    expect(parseDaemonMetadata('mon', fixture('mon_metadata.json'))).toEqual([
      { type: 'mon', id: 'a', host: 'labhost-0', version: '16.2.15', release: 'pacific' },
    ]);
    const osds = parseDaemonMetadata('osd', fixture('osd_metadata.json'));
    expect(osds.map((o) => [o.id, o.host, o.version, o.release])).toEqual([
      ['0', 'storage-01', '18.2.4', 'reef'],
      ['1', 'storage-01', '18.2.4', 'reef'],
      ['2', 'storage-02', '18.2.4', 'reef'],
    ]);
    expect(() => parseDaemonMetadata('osd', '{}')).toThrow(DriverError);
  });

  it('mgr dump → active and standbys', () => {
    expect(parseMgrDump(fixture('mgr_dump_one_standby.json'))).toEqual({
      active: 'x',
      standbys: ['y'],
      available: true,
    });
  });

  it('noautoscale in JSON and text', () => {
    expect(parseNoAutoscale('{"noautoscale":true}')).toBe(true);
    expect(parseNoAutoscale('noautoscale is off\n')).toBe(false);
    expect(() => parseNoAutoscale('huh')).toThrow(DriverError);
  });

  it('mon ok-to-stop: rc 0 ok, rc 16 not ok with the reason, others fail', () => {
    const fail = () => new DriverError('command_failed', 'x', false);
    expect(
      interpretMonOkToStop(
        { code: 0, stdout: '', stderr: 'quorum should be preserved (a,b) after stopping [c]' },
        fail,
      ),
    ).toEqual({ ok: true, reason: null });
    expect(
      interpretMonOkToStop(
        {
          code: 16,
          stdout: '',
          stderr: 'Error EBUSY: not enough monitors would be available (a) after stopping mons [b]',
        },
        fail,
      ),
    ).toEqual({
      ok: false,
      reason: 'not enough monitors would be available (a) after stopping mons [b]',
    });
    expect(() => interpretMonOkToStop({ code: 2, stdout: '', stderr: 'Error ENOENT' }, fail)).toThrow(DriverError);
  });
});
