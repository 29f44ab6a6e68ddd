import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCephCliDriver } from '../../drivers/real/ceph-cli';
import {
  CRUSH_ITEM_NONE,
  parseOsdDfWeights,
  parseMetadataDeviceTib,
  parseOsdDumpPlacement,
  parsePgsBrief,
  parseSafeToDestroy,
  summarisePlacement,
} from '../../drivers/real/ceph-cli-reweight';
import { DriverError, type ExecResult } from '../../drivers/types';
import { shellQuote } from '../../drivers/driver-errors';
import { ok, ScriptedShell } from '../drivers/fake-shell';

const fixture = (name: string) => readFileSync(path.resolve(__dirname, '../fixtures/ceph', name), 'utf8');
const cmd = (args: string, json = true) => `ceph --connect-timeout 10 ${args}${json ? ' -f json' : ''}`;

describe('ceph reweight parsers (real Ceph 16.2 output)', () => {
  it('pg dump: up and acting sets of every PG, from the full dump and from pgs_brief', () => {
    const full = parsePgsBrief(fixture('pg_dump.json'));
    expect(full).toHaveLength(17);
    expect(full.find((p) => p.pgid === '3.2')).toEqual({
      pgid: '3.2',
      state: 'active+clean',
      up: [1, 0, 2],
      acting: [1, 0, 2],
    });
    const brief = parsePgsBrief(fixture('pgs_brief_ec21_osd2_weight0.json'));
    expect(brief.find((p) => p.pgid === '3.2')!.up).toEqual([1, 0, CRUSH_ITEM_NONE]);
    // Older releases print the bare array.
    expect(parsePgsBrief(JSON.stringify([{ pgid: '1.0', state: 'active+clean', up: [0], acting: [0] }]))).toHaveLength(
      1,
    );
    expect(() => parsePgsBrief('{"pg_ready":true}')).toThrow(/no pg_stats/);
    expect(() => parsePgsBrief('[{"pgid":"1.0","state":"active+clean"}]')).toThrow(DriverError);
  });

  it('osd dump: up OSDs, pg_temp entries and pool sizes', () => {
    const clean = parseOsdDumpPlacement(fixture('osd_dump_noout_group.json'));
    expect(clean.pgTemp).toEqual([]);
    expect(clean.upOsds).toEqual([0, 2]);
    const stuck = parseOsdDumpPlacement(fixture('osd_dump_pg_temp_ec21.json'));
    expect(stuck.pgTemp).toHaveLength(8);
    expect(stuck.poolSizes.get(3)).toBe(3);
    expect(() => parseOsdDumpPlacement('{"osds":[]}')).toThrow(/no osds, pools or pg_temp/);
  });

  it('osd df: CRUSH weight and the device size in TiB (the full weight)', () => {
    const df = parseOsdDfWeights(fixture('osd_df_osd2_reweight0.json'));
    const osd0 = df.get(0)!;
    expect(osd0.crush_weight).toBeCloseTo(0.00389, 5);
    // 4 GiB memstore device: the CRUSH weight ceph-volume would give it.
    expect(osd0.device_tib).toBeCloseTo(4 / 1024, 6);
  });

  it('safe-to-destroy: rc 0 both ways, the list decides; the reason names what is left', () => {
    expect(parseSafeToDestroy(fixture('safe_to_destroy_osd2.json'))).toEqual({ safe: [2], reason: null });
    expect(parseSafeToDestroy(fixture('safe_to_destroy_osd0_active.json'))).toEqual({
      safe: [],
      reason: 'PGs still mapped to osd.0',
    });
    expect(() => parseSafeToDestroy('{"active":[0]}')).toThrow(/no safe_to_destroy/);
  });

  it('placement summary: PGs per OSD over up ∪ acting, and the drain that can never finish (2147483647 in up)', () => {
    const clean = summarisePlacement(
      parsePgsBrief(fixture('pg_dump.json')),
      parseOsdDumpPlacement(fixture('osd_dump_noout_group.json')),
      [2],
    );
    expect(clean.pgsByOsd.get(2)).toBe(13);
    expect(clean.unplaceable).toEqual([]);
    expect([clean.pgs_total, clean.pgs_active_clean, clean.pg_temp]).toEqual([17, 17, 0]);

    const stuck = summarisePlacement(
      parsePgsBrief(fixture('pgs_brief_ec21_osd2_weight0.json')),
      parseOsdDumpPlacement(fixture('osd_dump_pg_temp_ec21.json')),
      [2],
    );
    // osd.2 still acts for the EC PGs: their data cannot go anywhere else.
    expect(stuck.pgsByOsd.get(2)).toBe(13);
    expect(stuck.unplaceable.sort()).toEqual(['3.0', '3.1', '3.2', '3.3', '3.4', '3.5', '3.6', '3.7']);
    expect(stuck.pg_temp).toBe(8);
    expect(stuck.states).toContainEqual({ state: 'active+clean+remapped', count: 8 });
    // A replicated PG whose up set is shorter than its pool's size is as stuck.
    const short = summarisePlacement(
      [{ pgid: '2.0', state: 'active+clean+remapped', up: [0], acting: [0, 2] }],
      parseOsdDumpPlacement(fixture('osd_dump_pg_temp_ec21.json')),
      [2],
    );
    expect(short.unplaceable).toEqual(['2.0']);
  });
});

describe('ceph CLI reweight ops (scripted admin shell)', () => {
  function driverWith(script: Record<string, ExecResult | ((c: string) => ExecResult)>) {
    const sessions: ScriptedShell[] = [];
    const driver = createCephCliDriver({
      adminShell: async () => {
        const s = new ScriptedShell(script);
        sessions.push(s);
        return s;
      },
      hostShell: async () => new ScriptedShell({}),
    });
    return { driver, sessions };
  }

  it('crush reweight sets the weight and reads it back from osd df', async () => {
    const { driver, sessions } = driverWith({
      [cmd('osd crush reweight osd.0 0.00389', false)]: ok(''),
      [cmd('osd df')]: ok(fixture('osd_df.json')),
    });
    await driver.crushReweight(0, 0.0038909912109375);
    expect(sessions[0]!.commands[0]).toBe(cmd('osd crush reweight osd.0 0.00389', false));
    expect(sessions[0]!.closed).toBe(1);
    // Ceph said yes but the map does not show it: not done.
    const wrong = driverWith({
      [cmd('osd crush reweight osd.0 0.00100', false)]: ok(''),
      [cmd('osd df')]: ok(fixture('osd_df.json')),
    });
    await expect(wrong.driver.crushReweight(0, 0.001)).rejects.toThrow(/reads 0.0038/);
    await expect(wrong.driver.crushReweight(-1, 0.5)).rejects.toThrow(/invalid OSD id/);
  });

  it('initial CRUSH weight of new OSDs: set in the osd section of the config database, removed again', async () => {
    const { driver, sessions } = driverWith({
      [cmd('config set osd osd_crush_initial_weight 0', false)]: ok(''),
      [cmd('config rm osd osd_crush_initial_weight', false)]: ok(''),
    });
    await driver.setOsdInitialWeight!(0);
    await driver.setOsdInitialWeight!(null);
    expect(sessions.flatMap((s) => s.commands)).toEqual([
      cmd('config set osd osd_crush_initial_weight 0', false),
      cmd('config rm osd osd_crush_initial_weight', false),
    ]);
    await expect(driver.setOsdInitialWeight!(-1)).rejects.toThrow(/invalid initial CRUSH weight/);
  });

  it('pg placement: one flush for all OSDs per poll (tell osd.*), counts read once the mgr holds the flushed stats', async () => {
    let seqReads = 0;
    const FLUSH = cmd("tell 'osd.*' flush_pg_stats", false);
    const { driver, sessions } = driverWith({
      [FLUSH]: ok(fixture('flush_pg_stats_all.txt')),
      // The mgr first holds the older stats it had (the captured dump), then the flushed ones.
      [cmd('pg dump osds')]: () =>
        ok(
          ++seqReads === 1
            ? fixture('pg_dump_osds.json')
            : JSON.stringify({
                osd_stats: [
                  { osd: 0, seq: 30064771097 },
                  { osd: 1, seq: 38654705689 },
                  { osd: 2, seq: 30064771097 },
                ],
              }),
        ),
      [cmd('osd dump')]: ok(fixture('osd_dump_pg_temp_ec21.json')),
      [cmd('pg dump pgs_brief')]: ok(fixture('pgs_brief_ec21_osd2_weight0.json')),
      [cmd('osd df')]: ok(fixture('osd_df_osd2_reweight0.json')),
      // osd.2 is out (kb 0 in osd df): its size is looked up in its metadata (this capture has none).
      [cmd('osd metadata')]: ok(fixture('osd_metadata.json')),
    });
    const p = await driver.pgPlacement([2]);
    expect(sessions[0]!.commands).toEqual([
      FLUSH,
      cmd('pg dump osds'),
      cmd('pg dump osds'),
      cmd('osd dump'),
      cmd('pg dump pgs_brief'),
      cmd('osd df'),
      cmd('osd metadata'),
    ]);
    // Never one command per OSD.
    expect(sessions[0]!.commands.filter((c) => /tell osd\.\d|last-stat-seq/.test(c))).toEqual([]);
    expect(p.osds).toEqual([
      { osd_id: 2, pgs: 13, crush_weight: expect.any(Number), device_weight: expect.any(Number) },
    ]);
    expect(p.unplaceable).toHaveLength(8);
    expect(p.pg_temp).toBe(8);
    // Three polls of a drain: three flushes, whatever the number of OSDs.
    await driver.pgPlacement([2]);
    await driver.pgPlacement([2]);
    expect(sessions.map((s) => s.commands.filter((c) => c === FLUSH).length)).toEqual([1, 1, 1]);
  });

  it('pg placement of a failed OSD: osd df has no size for it (kb 0), its device size comes from its metadata (real Reef output)', async () => {
    // Issue 13 lab: a failed OSD was taken as a full-weight one of an unknown disk, and its
    // replacement got the new disk's `osd df` size instead of the weight it had (0.00781 ≠ 0.0077972).
    // `osd df` says kb 0 for any OSD that is out (up or down).
    const df = parseOsdDfWeights(fixture('osd_df_reef_osd2_down_out.json'));
    expect(df.get(2)).toMatchObject({ crush_weight: 0.0077972412109375, device_tib: 0 });
    expect(parseMetadataDeviceTib(fixture('osd_metadata_reef_osd2_down.json')).get(2)).toBe(8 / 1024);
    expect(parseMetadataDeviceTib('[{"id":7},{"id":8,"bluestore_bdev_size":"0"}]').size).toBe(0);

    const script = {
      [cmd("tell 'osd.*' flush_pg_stats", false)]: ok(''),
      [cmd('osd dump')]: ok(fixture('osd_dump_pg_temp_ec21.json')),
      [cmd('pg dump pgs_brief')]: ok(fixture('pgs_brief_ec21_osd2_weight0.json')),
      [cmd('osd df')]: ok(fixture('osd_df_reef_osd2_down_out.json')),
      [cmd('osd metadata')]: ok(fixture('osd_metadata_reef_osd2_down.json')),
    };
    const down = driverWith(script);
    const p = await down.driver.pgPlacement([2]);
    expect(p.osds[0]).toMatchObject({ osd_id: 2, crush_weight: 0.0077972412109375, device_weight: 8 / 1024 });
    expect(down.sessions[0]!.commands).toContain(cmd('osd metadata'));
    // An OSD that is up has its size in osd df: no metadata read.
    const up = driverWith(script);
    expect((await up.driver.pgPlacement([0])).osds[0]!.device_weight).toBe(8 / 1024);
    expect(up.sessions[0]!.commands).not.toContain(cmd('osd metadata'));
  });

  it('safe-to-destroy: JSON verdict on rc 0, EAGAIN is retryable', async () => {
    const yes = driverWith({ [cmd('osd safe-to-destroy 2')]: ok(fixture('safe_to_destroy_osd2.json')) });
    expect(await yes.driver.safeToDestroy([2])).toEqual({ safe: [2], reason: null });
    const no = driverWith({ [cmd('osd safe-to-destroy 0')]: ok(fixture('safe_to_destroy_osd0_active.json')) });
    expect((await no.driver.safeToDestroy([0])).safe).toEqual([]);
    const unknown = driverWith({
      [cmd('osd safe-to-destroy 9')]: {
        code: 11,
        stdout: '',
        stderr: 'Error EAGAIN: 7 pgs have unknown state; cannot draw any conclusions\n',
      },
    });
    await expect(unknown.driver.safeToDestroy([9])).rejects.toMatchObject({
      type: 'ceph_unavailable',
      retryable: true,
    });
  });

  it('purge: ceph osd purge when the map has the OSD, read back; an OSD already gone is purged (idempotent)', async () => {
    let purged = false;
    const { driver, sessions } = driverWith({
      [cmd('osd ls')]: () => ok(purged ? '[0,1]' : '[0,1,2]'),
      [cmd('osd purge osd.2 --yes-i-really-mean-it', false)]: () => {
        purged = true;
        return ok('purged osd.2\n');
      },
    });
    await driver.purgeOsd(2);
    expect(sessions[0]!.commands).toEqual([
      cmd('osd ls'),
      cmd('osd purge osd.2 --yes-i-really-mean-it', false),
      cmd('osd ls'),
    ]);
    await driver.purgeOsd(2);
    expect(sessions[1]!.commands).toEqual([cmd('osd ls')]);
    // Ceph refuses an OSD that is still up: a permanent failure with Ceph's words.
    const busy = driverWith({
      [cmd('osd ls')]: ok('[0,1,2]'),
      [cmd('osd purge osd.2 --yes-i-really-mean-it', false)]: {
        code: 16,
        stdout: '',
        stderr: 'Error EBUSY: osd.2 is not `down`.\n',
      },
    });
    await expect(busy.driver.purgeOsd(2)).rejects.toThrow(/EBUSY/);
    await expect(busy.driver.purgeOsd(-1)).rejects.toThrow(/invalid OSD id/);
  });

  it('remove CRUSH host: ceph osd crush remove <host>; the package deployer forgets the host, cephadm leaves the orchestrator host list', async () => {
    const record = (hosts: string[]) =>
      JSON.stringify({ hosts: hosts.map((h, i) => ({ hostname: h, address: `10.0.0.${i + 1}` })) });
    const forget = `ceph --connect-timeout 10 config-key set nodefoundry/hosts ${shellQuote(
      JSON.stringify({
        hosts: [
          { hostname: 'node-a', address: '10.0.0.1' },
          { hostname: 'node-c', address: '10.0.0.3' },
        ],
      }),
    )}`;
    const { driver, sessions } = driverWith({
      [cmd('osd crush remove node-b', false)]: ok(''),
      [cmd('config-key get nodefoundry/hosts', false)]: ok(record(['node-a', 'node-b', 'node-c'])),
      [forget]: ok(''),
    });
    await driver.removeCrushHost('node-b');
    // Packages: the host leaves the deployer's host record too (a later mon placement writes
    // ceph.conf to every recorded host: a removed one is no member to reach any more).
    expect(sessions[0]!.commands).toEqual([
      cmd('osd crush remove node-b', false),
      cmd('config-key get nodefoundry/hosts', false),
      forget,
    ]);
    // Idempotent: a host no longer recorded, or no record at all (an imported cluster), is left alone.
    for (const answer of [ok(record(['node-a', 'node-c'])), { code: 2, stdout: '', stderr: 'Error ENOENT: ' }]) {
      const again = driverWith({
        [cmd('osd crush remove node-b', false)]: ok(''),
        [cmd('config-key get nodefoundry/hosts', false)]: answer,
      });
      await again.driver.removeCrushHost('node-b');
      expect(again.sessions[0]!.commands).toEqual([
        cmd('osd crush remove node-b', false),
        cmd('config-key get nodefoundry/hosts', false),
      ]);
    }
    const sessions2: ScriptedShell[] = [];
    const cephadm = createCephCliDriver({
      deployment: 'cephadm',
      fsid: '11111111-2222-3333-4444-555555555555',
      adminShell: async () => {
        const s = new ScriptedShell({
          [cmd('orch host rm node-b --force', false)]: ok('Removed  host node-b'),
          [cmd('osd crush remove node-b', false)]: ok(''),
        });
        sessions2.push(s);
        return s;
      },
      hostShell: async () => new ScriptedShell({}),
    });
    await cephadm.removeCrushHost('node-b');
    expect(sessions2[0]!.commands).toEqual([
      cmd('orch host rm node-b --force', false),
      cmd('osd crush remove node-b', false),
    ]);
    await expect(driver.removeCrushHost('node-b; rm -rf /')).rejects.toThrow();
  });
});
