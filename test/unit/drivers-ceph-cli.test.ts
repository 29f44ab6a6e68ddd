import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCephCliDriver } from '../../drivers/real/ceph-cli';
import {
  combineOsds,
  parseCephStatus,
  parseFlushPgStats,
  parseHealthFlags,
  parseOsdDf,
  parseOsdDfUsage,
  parseOsdDump,
  parseOsdStatSeqs,
  parseOsdTree,
  parseRemappedPgs,
} from '../../drivers/real/ceph-json';
import { DriverError, type ExecResult } from '../../drivers/types';
import { ok, ScriptedShell } from '../drivers/fake-shell';

const fixture = (name: string) => readFileSync(path.resolve(__dirname, '../fixtures/ceph', name), 'utf8');
const noFlags = { flags: [], nooutHosts: [], groupFlags: [], pgTemp: 0 };
/** The real Reef/Tentacle `health detail` with `set-group noout` on labnode1, moved to labnode2 as the osd dump sample has it. */
const HEALTH_NOOUT_LABNODE2 = fixture('reef-tentacle-mixed.health_detail.json').replace(
  'host labnode1 has flags noout',
  'host labnode2 has flags noout',
);

describe('ceph JSON parsers (real Ceph 16.2 output)', () => {
  it('status: healthy cluster', () => {
    expect(parseCephStatus(fixture('status_idle.json'), noFlags)).toEqual({
      health: 'HEALTH_OK',
      checks: [],
      osds_total: 3,
      osds_up: 3,
      osds_in: 3,
      pgs_total: 1,
      pgs_active_clean: 1,
      pgs_settled: 1,
      mgr_available: true,
      mons_in_quorum: ['a'],
      mons_total: 1,
      flags: [],
      bytes_total: 12884901888,
      bytes_used: 93659,
      bytes_avail: 12884808229,
    });
  });

  it('status: raw capacity from the pgmap (every copy counted), null when the status has none (issue 11)', () => {
    // Captured on a lab cluster during recovery, with data written.
    const s = parseCephStatus(fixture('status_during_recovery.json'), noFlags);
    // 6 peering are not settled; 3 active+clean are.
    expect([s.pgs_total, s.pgs_active_clean, s.pgs_settled]).toEqual([9, 3, 3]);
    expect([s.bytes_total, s.bytes_used, s.bytes_avail]).toEqual([8589934592, 2072062734, 6517871858]);
    const doc = JSON.parse(fixture('status.json'));
    delete doc.pgmap.bytes_total;
    delete doc.pgmap.bytes_used;
    delete doc.pgmap.bytes_avail;
    expect(parseCephStatus(JSON.stringify(doc), noFlags)).toMatchObject({
      bytes_total: null,
      bytes_used: null,
      bytes_avail: null,
    });
    doc.pgmap.bytes_used = 'lots';
    expect(() => parseCephStatus(JSON.stringify(doc), noFlags)).toThrow(/pgmap.bytes_used is not a number/);
  });

  it('osd df: bytes used and size per OSD (KiB × 1024); an out OSD reports 0 for both (issue 11)', () => {
    expect([...parseOsdDfUsage(fixture('osd_df.json'))]).toEqual([
      [0, { used_bytes: 21 * 1024, size_bytes: 4194304 * 1024 }],
      [1, { used_bytes: 21 * 1024, size_bytes: 4194304 * 1024 }],
      [2, { used_bytes: 21 * 1024, size_bytes: 4194304 * 1024 }],
    ]);
    const drained = parseOsdDfUsage(fixture('osd_df_osd2_reweight0.json'));
    expect(drained.get(0)).toEqual({ used_bytes: 1274516 * 1024, size_bytes: 4194304 * 1024 });
    expect(drained.get(2)).toEqual({ used_bytes: 0, size_bytes: 0 });
    const osds = combineOsds(
      parseOsdTree(fixture('osd_tree.json')),
      parseOsdDf(fixture('osd_df_osd2_reweight0.json')),
      drained,
    );
    expect(osds.map((o) => [o.id, o.used_bytes, o.size_bytes])).toEqual([
      [0, 1274516 * 1024, 4194304 * 1024],
      [1, 1274516 * 1024, 4194304 * 1024],
      [2, 0, 0],
    ]);
    const noKb = JSON.parse(fixture('osd_df.json'));
    delete noKb.nodes[1].kb_used;
    expect(() => parseOsdDfUsage(JSON.stringify(noKb))).toThrow(/osd.1.kb_used is not a number/);
  });

  it('status: during recovery only the active+clean PGs count, and an OSD out shows in osds_in', () => {
    const s = parseCephStatus(fixture('status_during_recovery.json'), noFlags);
    expect(s.health).toBe('HEALTH_WARN');
    expect([s.osds_total, s.osds_up, s.osds_in]).toEqual([3, 3, 2]);
    expect([s.pgs_total, s.pgs_active_clean]).toEqual([9, 3]);
    // The checks behind the health, from the same document (issue 10).
    expect(s.checks).toEqual([
      {
        code: 'POOL_APP_NOT_ENABLED',
        severity: 'HEALTH_WARN',
        summary: '1 pool(s) do not have an application enabled',
      },
    ]);
  });

  it('status: rejects what is not a status document', () => {
    expect(() => parseCephStatus(fixture('osd_tree.json'), noFlags)).toThrow(DriverError);
    expect(() => parseCephStatus('timed out', noFlags)).toThrow(/not JSON/);
  });

  it('osd dump: cluster flags without the routine ones, and the hosts carrying noout', () => {
    // Captured in the lab during a reboot: `set-group noout labnode2`, osd.1 stopped.
    const dump = parseOsdDump(fixture('osd_dump_noout_group.json'));
    expect(dump).toEqual({ flags: [], nooutHosts: ['labnode2'], groupFlags: ['noout'], pgTemp: 0 });
    const s = parseCephStatus(fixture('status.json'), dump);
    expect(s.flags).toEqual(['noout']);
    const clusterWide = JSON.stringify({
      flags: 'noout,sortbitwise,recovery_deletes',
      crush_node_flags: {},
      device_class_flags: {},
      pg_temp: [],
    });
    expect(parseOsdDump(clusterWide)).toEqual({ flags: ['noout'], nooutHosts: [], groupFlags: [], pgTemp: 0 });
  });

  it('health detail: cluster flags (OSDMAP_FLAGS) and the CRUSH nodes carrying noout (OSD_FLAGS), Pacific and Reef/Tentacle (issue 14)', () => {
    // Pacific 16.2.15: `ceph osd set noout` with osd.1 stopped.
    expect(parseHealthFlags(fixture('health_detail_noout_osd_down.json'))).toEqual({
      flags: ['noout'],
      nooutHosts: [],
      groupFlags: [],
    });
    // Reef 18.2.7 / Tentacle 20.2.4 mixed: `ceph osd set-group noout labnode1`.
    expect(parseHealthFlags(fixture('reef-tentacle-mixed.health_detail.json'))).toEqual({
      flags: [],
      nooutHosts: ['labnode1'],
      groupFlags: ['noout'],
    });
    expect(parseHealthFlags(fixture('health_detail_ok.json'))).toEqual({ flags: [], nooutHosts: [], groupFlags: [] });
    // Several flags; an OSD and a device class carry flags but are no CRUSH node; a rack is; muted still counts.
    const doc = {
      status: 'HEALTH_WARN',
      checks: {
        OSDMAP_FLAGS: {
          severity: 'HEALTH_WARN',
          summary: { message: 'noout,norebalance flag(s) set' },
          detail: [],
          muted: true,
        },
        OSD_FLAGS: {
          severity: 'HEALTH_WARN',
          summary: { message: '4 OSDs or CRUSH {nodes, device-classes} have {NOUP,NODOWN,NOIN,NOOUT} flags set' },
          detail: [
            { message: 'osd.3 has flags noup,noin' },
            { message: "device class 'hdd' has flags noout" },
            { message: 'rack r1 has flags noout' },
            { message: 'host b2 has flags noout' },
          ],
        },
      },
      mutes: [],
    };
    expect(parseHealthFlags(JSON.stringify(doc))).toEqual({
      flags: ['noout', 'norebalance'],
      nooutHosts: ['b2', 'r1'],
      groupFlags: ['noin', 'noout', 'noup'],
    });
    expect(() => parseHealthFlags('[truncated')).toThrow(/not JSON/);
  });

  it('status: pg_temp entries counted from osdmap.num_remapped_pgs (no osd dump needed)', () => {
    expect(parseRemappedPgs(fixture('status_during_recovery.json'))).toBe(6);
    expect(parseRemappedPgs(fixture('status_two_osds_down_tentacle.json'))).toBe(0);
  });

  it('status: a PG with a pg_temp entry is not clean, whatever the (possibly stale) PG stats say', () => {
    const doc = JSON.parse(fixture('status.json'));
    doc.pgmap = { ...doc.pgmap, num_pgs: 17, pgs_by_state: [{ state_name: 'active+clean', count: 17 }] };
    expect(parseCephStatus(JSON.stringify(doc), noFlags).pgs_active_clean).toBe(17);
    expect(parseCephStatus(JSON.stringify(doc), { ...noFlags, pgTemp: 2 })).toMatchObject({
      pgs_total: 17,
      pgs_active_clean: 15,
    });
  });

  it('flush_pg_stats: the sequence number each up OSD sent; pg dump osds: what the mgr holds', () => {
    expect([...parseFlushPgStats(fixture('flush_pg_stats_all.txt'))]).toEqual([
      [0, 30064771097],
      [1, 38654705689],
      [2, 30064771097],
    ]);
    // osd.1 down: ENXIO on stderr for it, the others still answer.
    expect([...parseFlushPgStats(fixture('flush_pg_stats_osd1_down.stdout.txt'))]).toEqual([
      [0, 30064771102],
      [2, 30064771102],
    ]);
    expect(parseOsdStatSeqs(fixture('pg_dump_osds.json'))).toEqual(
      new Map([
        [2, 30064771094],
        [1, 38654705686],
        [0, 30064771094],
      ]),
    );
    expect(parseOsdStatSeqs('[{"osd":3,"seq":5}]')).toEqual(new Map([[3, 5]]));
    expect(parseOsdStatSeqs('{"truncated')).toBeNull();
  });

  it('osd tree: host of each OSD from the buckets, up/down, weights, device class', () => {
    expect(parseOsdTree(fixture('osd_tree_osd1_down.json'))).toEqual([
      { id: 0, host: 'labhost-0', up: true, crush_weight: 0.0038909912109375, reweight: 1, device_class: 'hdd' },
      { id: 1, host: 'labhost-1', up: false, crush_weight: 0.0038909912109375, reweight: 1, device_class: 'hdd' },
      { id: 2, host: 'labhost-2', up: true, crush_weight: 0.003875732421875, reweight: 1, device_class: 'hdd' },
    ]);
  });

  it('osd df: PG counts; combined with the tree, reweight 0 means out', () => {
    expect([...parseOsdDf(fixture('osd_df.json'))]).toEqual([
      [0, 1],
      [1, 0],
      [2, 1],
    ]);
    const drained = parseOsdDf(fixture('osd_df_osd2_reweight0.json'));
    expect(drained.get(2)).toBe(0);
    const tree = parseOsdTree(fixture('osd_tree.json')).map((o) => (o.id === 2 ? { ...o, reweight: 0 } : o));
    const osds = combineOsds(tree, drained);
    expect(osds.find((o) => o.id === 2)).toMatchObject({ in: false, pgs: 0, reweight: 0 });
    expect(osds.find((o) => o.id === 0)).toMatchObject({ in: true, pgs: 9, host: 'labhost-0' });
  });
});

function cephCli(
  script: Record<string, ExecResult | ((command: string) => ExecResult)>,
  hosts: Record<string, Record<string, ExecResult>> = {},
  options: { pgStatsFlushMs?: number } = {},
) {
  const admin: ScriptedShell[] = [];
  const onHosts: Record<string, ScriptedShell> = {};
  const driver = createCephCliDriver({
    adminShell: async () => {
      const s = new ScriptedShell(script);
      admin.push(s);
      return s;
    },
    hostShell: async (host) => (onHosts[host] = new ScriptedShell(hosts[host] ?? {})),
    ...options,
  });
  return { driver, admin, onHosts };
}

const C = 'ceph --connect-timeout 10';
const FLUSH = `${C} tell 'osd.*' flush_pg_stats`;
const OSD_SEQS = `${C} pg dump osds -f json`;
/** The mgr already holds what the OSDs flushed. */
const fresh = {
  [FLUSH]: ok(fixture('flush_pg_stats_all.txt')),
  [OSD_SEQS]: ok(JSON.stringify({ osd_stats: [0, 1, 2].map((osd) => ({ osd, seq: 40_000_000_000 })) })),
};

describe('ceph CLI driver', () => {
  it('status runs ceph status and health detail (never the whole osd dump) with a connect timeout, JSON output, and closes the session', async () => {
    const { driver, admin } = cephCli({
      ...fresh,
      [`${C} status -f json`]: ok(fixture('status.json')),
      [`${C} health detail -f json`]: ok(HEALTH_NOOUT_LABNODE2),
    });
    const s = await driver.status();
    expect(s.health).toBe('HEALTH_OK');
    expect(s.flags).toEqual(['noout']);
    expect(admin).toHaveLength(1);
    expect(admin[0]!.commands).toEqual([FLUSH, OSD_SEQS, `${C} status -f json`, `${C} health detail -f json`]);
    expect(admin[0]!.closed).toBe(1);
  });

  it("the monitor's reads (pgStatsFlushMs 0, CephTarget freshPgStats false): status and osds send no flush_pg_stats to every OSD", async () => {
    const { driver, admin } = cephCli(
      {
        [`${C} status -f json`]: ok(fixture('status.json')),
        [`${C} health detail -f json`]: ok(HEALTH_NOOUT_LABNODE2),
        [`${C} osd tree -f json`]: ok(fixture('osd_tree_osd1_down.json')),
        [`${C} osd df -f json`]: ok(fixture('osd_df.json')),
        [`${C} osd metadata -f json`]: ok('[]'),
      },
      {},
      { pgStatsFlushMs: 0 },
    );
    expect((await driver.status()).health).toBe('HEALTH_OK');
    expect((await driver.osds()).map((o) => o.id)).toEqual([0, 1, 2]);
    expect(admin.flatMap((s) => s.commands)).toEqual([
      `${C} status -f json`,
      `${C} health detail -f json`,
      `${C} osd tree -f json`,
      `${C} osd df -f json`,
      `${C} osd metadata -f json`,
    ]);
  });

  it("osds joins osd tree, osd df and the devices of osd metadata (only where its host is the tree's)", async () => {
    const metadata = JSON.stringify([
      { id: 0, hostname: 'labhost-0', devices: 'sdb' },
      { id: 1, hostname: 'labhost-9', devices: 'sdc' }, // stale: the tree has osd.1 on labhost-1
      { id: 2, hostname: 'labhost-2', devices: 'nvme0n1,sdd' }, // DB on another device: not said which holds the data
    ]);
    const { driver } = cephCli({
      ...fresh,
      [`${C} osd tree -f json`]: ok(fixture('osd_tree_osd1_down.json')),
      [`${C} osd df -f json`]: ok(fixture('osd_df.json')),
      [`${C} osd metadata -f json`]: ok(metadata),
    });
    const osds = await driver.osds();
    expect(osds.map((o) => [o.id, o.host, o.up, o.in, o.pgs, o.device, o.used_bytes])).toEqual([
      [0, 'labhost-0', true, true, 1, 'sdb', 21 * 1024],
      [1, 'labhost-1', false, true, 0, undefined, 21 * 1024],
      [2, 'labhost-2', true, true, 1, undefined, 21 * 1024],
    ]);
  });

  it("ok-to-stop: rc 0 yes; rc 16 no with Ceph's reason; rc 11 is a retryable error", async () => {
    const { driver } = cephCli({
      ...fresh,
      [`${C} osd ok-to-stop 0 -f json`]: ok(fixture('ok_to_stop_osd0.json')),
      [`${C} osd ok-to-stop 0 1 -f json`]: {
        code: 16,
        stdout: fixture('ok_to_stop_osd0_osd1.stdout.json'),
        stderr: fixture('ok_to_stop_osd0_osd1.stderr.txt'),
      },
      [`${C} osd ok-to-stop 99 -f json`]: {
        code: 11,
        stdout: fixture('ok_to_stop_unknown_pgs.stdout.json'),
        stderr: fixture('ok_to_stop_unknown_pgs.stderr.txt'),
      },
      [`${C} osd ok-to-stop 5 -f json`]: { code: 2, stdout: '', stderr: 'Error ENOENT: osd.5 does not exist\n' },
    });
    expect(await driver.okToStop([0])).toEqual({ ok: true, reason: null });
    expect(await driver.okToStop([0, 1])).toEqual({
      ok: false,
      reason: 'unsafe to stop osd(s) at this time (9 PGs are or would become offline)',
    });
    await expect(driver.okToStop([99])).rejects.toMatchObject({
      type: 'ceph_unavailable',
      retryable: true,
      message: expect.stringContaining('7 pgs have unknown state'),
    });
    await expect(driver.okToStop([5])).rejects.toMatchObject({ type: 'command_failed', retryable: false });
    expect(await driver.okToStop([])).toEqual({ ok: true, reason: null });
  });

  it('ok-to-stop that counted no PGs from an incomplete PG map (real Tentacle sample, spike pitfall 9) is asked again, not believed', async () => {
    const incomplete = fixture('ok_to_stop_incomplete_pgmap_tentacle.json');
    expect(JSON.parse(incomplete)).toEqual({ ok_to_stop: true, osds: [0], num_ok_pgs: 0, num_not_ok_pgs: 0 });
    // The mgr knows 9 PGs, 3 active+clean; the OSD map has 17 (pools of 1 and 16).
    const { driver } = cephCli({
      ...fresh,
      [`${C} osd ok-to-stop 0 -f json`]: ok(incomplete),
      [`${C} osd dump -f json`]: ok(fixture('osd_dump_noout_group.json')),
      [`${C} status -f json`]: ok(fixture('status_during_recovery.json')),
    });
    await expect(driver.okToStop([0])).rejects.toMatchObject({
      type: 'ceph_unavailable',
      retryable: true,
      message: expect.stringContaining('counted no PGs while the mgr knows 3 of 17 PGs active+clean'),
    });
    // Every PG of the OSD map known and active+clean: the OSD really holds none, the yes stands.
    const onePool = JSON.stringify({
      flags: 'sortbitwise',
      crush_node_flags: {},
      device_class_flags: {},
      pg_temp: [],
      pools: [{ pool: 1, pg_num: 1 }],
    });
    const complete = cephCli({
      ...fresh,
      [`${C} osd ok-to-stop 0 -f json`]: ok(incomplete),
      [`${C} osd dump -f json`]: ok(onePool),
      [`${C} status -f json`]: ok(fixture('status_idle.json')),
    });
    expect(await complete.driver.okToStop([0])).toEqual({ ok: true, reason: null });
    // A verdict that counted PGs is taken as it is (no extra reads).
    const counted = cephCli({ ...fresh, [`${C} osd ok-to-stop 0 -f json`]: ok(fixture('ok_to_stop_osd0.json')) });
    expect(await counted.driver.okToStop([0])).toEqual({ ok: true, reason: null });
    expect(counted.admin.flatMap((a) => a.commands).filter((c) => c.includes('status'))).toEqual([]);
  });

  it('ok-to-stop that counted no PGs for OSDs the OSD map has down (a host whose OSDs would not start, retried) is believed: they hold no PG to lose', async () => {
    // Real Tentacle samples (test/lab/release/upgrade-faults.test.ts (b)): osd.1 and osd.5 of
    // labnode2 down after their start failed, every PG active+undersized (none active+clean).
    const down = fixture('ok_to_stop_down_osds_tentacle.json');
    expect(JSON.parse(down)).toEqual({ ok_to_stop: true, osds: [1, 5], num_ok_pgs: 0, num_not_ok_pgs: 0 });
    const replies = {
      ...fresh,
      [`${C} osd ok-to-stop 1 5 -f json`]: ok(down),
      [`${C} osd ok-to-stop 0 1 -f json`]: ok(down.replace('[1,5]', '[0,1]')),
      [`${C} osd dump -f json`]: ok(fixture('osd_dump_two_osds_down_tentacle.json')),
      [`${C} status -f json`]: ok(fixture('status_two_osds_down_tentacle.json')),
    };
    expect(await cephCli(replies).driver.okToStop([1, 5])).toEqual({ ok: true, reason: null });
    // With an OSD that is up among them, a count of none is still not believed from a PG map that is not clean.
    await expect(cephCli(replies).driver.okToStop([0, 1])).rejects.toMatchObject({
      type: 'ceph_unavailable',
      retryable: true,
      message: expect.stringContaining('counted no PGs while the mgr knows 0 of 33 PGs active+clean'),
    });
  });

  it('noout: set-group / unset-group on the host, read back from health detail (OSD_FLAGS), not the osd dump', async () => {
    const { driver, admin } = cephCli({
      [`${C} osd set-group noout labnode2`]: ok('\n'),
      [`${C} osd unset-group noout labnode2`]: ok('\n'),
      [`${C} health detail -f json`]: ok(HEALTH_NOOUT_LABNODE2),
    });
    await driver.setGroupNoout('labnode2');
    expect(await driver.nooutHosts()).toEqual(['labnode2']);
    await driver.unsetGroupNoout('labnode2');
    expect(admin.flatMap((s) => s.commands)).toEqual([
      `${C} osd set-group noout labnode2`,
      `${C} health detail -f json`,
      `${C} osd unset-group noout labnode2`,
    ]);
    expect(admin.every((s) => s.closed === 1)).toBe(true);
    // Host names go into a shell command line: anything unusual is refused before it gets there.
    await expect(driver.setGroupNoout('x; rm -rf /')).rejects.toMatchObject({ type: 'command_failed' });
  });

  it('stop/start OSDs with systemctl on the OSD host itself', async () => {
    const { driver, onHosts, admin } = cephCli(
      {},
      {
        'labhost-1': {
          'systemctl stop ceph-osd@1 ceph-osd@4': ok(''),
          'systemctl start ceph-osd@1 ceph-osd@4': ok(''),
        },
      },
    );
    await driver.stopOsds('labhost-1', [1, 4]);
    expect(onHosts['labhost-1']!.commands).toEqual(['systemctl stop ceph-osd@1 ceph-osd@4']);
    expect(onHosts['labhost-1']!.closed).toBe(1);
    await driver.startOsds('labhost-1', [1, 4]);
    expect(admin).toHaveLength(0);
    await expect(driver.stopOsds('labhost-2', [2])).rejects.toMatchObject({ type: 'command_failed' });
  });

  it('sudo and a cephadm unit name are options', async () => {
    const admin = new ScriptedShell({ 'sudo -n ceph --connect-timeout 10 osd set-group noout h1': ok('') });
    const host = new ScriptedShell({ 'sudo -n systemctl stop ceph-abc@osd.3': ok('') });
    const driver = createCephCliDriver({
      adminShell: async () => admin,
      hostShell: async () => host,
      sudo: true,
      osdUnit: (id) => `ceph-abc@osd.${id}`,
    });
    await driver.setGroupNoout('h1');
    await driver.stopOsds('h1', [3]);
    expect([...admin.commands, ...host.commands]).toEqual([
      'sudo -n ceph --connect-timeout 10 osd set-group noout h1',
      'sudo -n systemctl stop ceph-abc@osd.3',
    ]);
  });

  it('PG counts are read only once the mgr holds the stats the OSDs just flushed', async () => {
    let dumps = 0;
    const { driver, admin } = cephCli({
      // osd.1 is down: ENXIO for it, the up OSDs flushed.
      [FLUSH]: {
        code: 6,
        stdout: fixture('flush_pg_stats_osd1_down.stdout.txt'),
        stderr: fixture('flush_pg_stats_osd1_down.stderr.txt'),
      },
      // The mgr first still holds older stats (the captured dump), then the flushed ones.
      [OSD_SEQS]: () =>
        ++dumps < 3
          ? ok(fixture('pg_dump_osds.json'))
          : ok(
              JSON.stringify({
                osd_stats: [
                  { osd: 0, seq: 30064771102 },
                  { osd: 2, seq: 30064771102 },
                ],
              }),
            ),
      [`${C} status -f json`]: ok(fixture('status.json')),
      [`${C} health detail -f json`]: ok(HEALTH_NOOUT_LABNODE2),
    });
    await driver.status();
    expect(dumps).toBe(3);
    expect(admin[0]!.commands).toEqual([
      FLUSH,
      OSD_SEQS,
      OSD_SEQS,
      OSD_SEQS,
      `${C} status -f json`,
      `${C} health detail -f json`,
    ]);
  });

  it('the flush is bounded and best effort; it can be turned off; a cluster without quorum fails it retryably', async () => {
    const stale = {
      [FLUSH]: ok(fixture('flush_pg_stats_all.txt')),
      [OSD_SEQS]: ok(fixture('pg_dump_osds.json')),
      [`${C} status -f json`]: ok(fixture('status.json')),
      [`${C} health detail -f json`]: ok(HEALTH_NOOUT_LABNODE2),
    };
    const bounded = createCephCliDriver({
      adminShell: async () => new ScriptedShell(stale),
      hostShell: async () => new ScriptedShell({}),
      pgStatsFlushMs: 300,
    });
    const started = Date.now();
    expect((await bounded.status()).health).toBe('HEALTH_OK');
    expect(Date.now() - started).toBeLessThan(2_000);
    const shell = new ScriptedShell({
      [`${C} status -f json`]: ok(fixture('status.json')),
      [`${C} health detail -f json`]: ok(HEALTH_NOOUT_LABNODE2),
    });
    await createCephCliDriver({
      adminShell: async () => shell,
      hostShell: async () => shell,
      pgStatsFlushMs: 0,
    }).status();
    expect(shell.commands).toEqual([`${C} status -f json`, `${C} health detail -f json`]);
    const { driver } = cephCli({
      [FLUSH]: { code: 1, stdout: '', stderr: '[errno 110] RADOS timed out (error connecting to the cluster)\n' },
    });
    await expect(driver.status()).rejects.toMatchObject({ type: 'ceph_unavailable', retryable: true });
  });

  it('a cluster without quorum is retryable; a missing ceph CLI is not', async () => {
    const { driver } = cephCli({
      ...fresh,
      [`${C} status -f json`]: {
        code: 1,
        stdout: '',
        stderr: '[errno 110] RADOS timed out (error connecting to the cluster)\n',
      },
    });
    await expect(driver.status()).rejects.toMatchObject({ type: 'ceph_unavailable', retryable: true });
    const { driver: bare } = cephCli({});
    await expect(bare.osds()).rejects.toMatchObject({ type: 'ceph_unavailable', retryable: false });
  });

  it('the session is closed even when the command fails', async () => {
    const { driver, admin } = cephCli({ [`${C} health detail -f json`]: ok('not json') });
    await expect(driver.nooutHosts()).rejects.toThrow(/not JSON/);
    expect(admin[0]!.closed).toBe(1);
  });
});
