import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCephCliDriver } from '../../drivers/real/ceph-cli';
import {
  osdDevicesOfCluster,
  osdOnDevice,
  parseCrushRules,
  parseFsid,
  parseOrchDevices,
  parseOrchHosts,
  parseOrchPs,
} from '../../drivers/real/ceph-cli-lifecycle';
import { parseErasureProfile, parsePoolsDetail } from '../../drivers/real/ceph-cli-pools';
import { DriverError, type ExecResult } from '../../drivers/types';
import { ok, ScriptedShell } from '../drivers/fake-shell';

const fixture = (name: string) => readFileSync(path.resolve(__dirname, '../fixtures/ceph', name), 'utf8');
const ceph = (args: string, json = false) => `ceph --connect-timeout 10 ${args}${json ? ' -f json' : ''}`;

function driver(
  script: Record<string, ExecResult | ((c: string) => ExecResult)>,
  hostScript: Record<string, ExecResult> = {},
) {
  const admin = new ScriptedShell(script);
  const host = new ScriptedShell(hostScript);
  // The lifecycle commands below are cephadm's (the package deployer has its own tests: drivers-ceph-packages.test.ts).
  const d = createCephCliDriver({ adminShell: async () => admin, hostShell: async () => host, deployment: 'cephadm' });
  return { d, admin, host };
}

describe('pool parsers', () => {
  it('osd pool ls detail: replicated and erasure pools, rule ids, profiles, applications, autoscale mode', () => {
    expect(parsePoolsDetail(fixture('pool_ls_detail.json'))).toEqual([
      {
        id: 1,
        name: 'device_health_metrics',
        type: 'replicated',
        size: 2,
        min_size: 1,
        pg_num: 1,
        crush_rule_id: 0,
        erasure_profile: null,
        applications: ['mgr_devicehealth'],
        pg_autoscale_mode: 'off',
      },
      {
        id: 2,
        name: 'testpool',
        type: 'replicated',
        size: 2,
        min_size: 1,
        pg_num: 8,
        crush_rule_id: 0,
        erasure_profile: null,
        applications: ['rbd'],
        pg_autoscale_mode: 'off',
      },
      {
        id: 3,
        name: 'ecpool',
        type: 'erasure',
        size: 3,
        min_size: 2,
        pg_num: 8,
        crush_rule_id: 1,
        erasure_profile: 'ec21',
        applications: ['rgw'],
        pg_autoscale_mode: 'off',
      },
    ]);
  });

  it("erasure-code-profile get: k and m are strings in Ceph's JSON", () => {
    expect(parseErasureProfile('ec21', fixture('erasure_code_profile_get_ec21.json'))).toEqual({
      name: 'ec21',
      k: 2,
      m: 1,
      failure_domain: 'osd',
    });
  });

  it('shapes it does not understand are errors, never an empty list', () => {
    expect(() => parsePoolsDetail('{}')).toThrow(DriverError);
    expect(() => parsePoolsDetail('[{"pool_name":"x","type":2,"size":1}]')).toThrow(/unknown pool type/);
    expect(() => parseErasureProfile('x', '{"k":"two"}')).toThrow(DriverError);
  });
});

describe('lifecycle parsers', () => {
  it('fsid, orch host ls, orch ps (running daemons only), orch device ls (boot disk and used devices unavailable)', () => {
    expect(parseFsid(fixture('fsid.json'))).toBe('49a8bc70-471b-4b60-b1d5-43c11e199350');
    expect(parseOrchHosts(fixture('orch_host_ls.json'))).toEqual(['storage-01', 'storage-02', 'storage-03']);
    expect(parseOrchPs(fixture('orch_ps.json'))).toEqual({ mons: ['storage-01', 'storage-02'], mgrs: ['storage-01'] });
    expect(parseOrchDevices(fixture('orch_device_ls.json'))).toEqual([
      { host: 'storage-01', device: 'nvme0n1', available: true, rejected_reasons: [] },
      {
        host: 'storage-01',
        device: 'nvme1n1',
        available: false,
        rejected_reasons: ['Insufficient space (<10 extents) on vgs', 'LVM detected', 'locked'],
      },
      { host: 'storage-01', device: 'sda', available: false, rejected_reasons: ['Has partitions', 'Has a FileSystem'] },
    ]);
  });

  it('osd metadata finds the OSD of a host device; crush rule dump gives each rule its failure domain', () => {
    const meta = fixture('osd_metadata.json');
    expect(osdOnDevice(meta, 'storage-01', 'nvme1n1')).toBe(1);
    expect(osdOnDevice(meta, 'storage-02', 'sdb')).toBe(2);
    expect(osdOnDevice(meta, 'storage-02', 'nvme1n1')).toBeNull();
    expect(parseCrushRules(fixture('crush_rule_dump.json'))).toEqual([
      { id: 0, name: 'replicated_rule', failure_domain: 'host' },
      { id: 1, name: 'ecpool', failure_domain: 'osd' },
      { id: 2, name: 'nf-replicated-rack', failure_domain: 'rack' },
    ]);
  });
});

describe('ceph CLI lifecycle and pool commands', () => {
  it('pool deletion enables mon_allow_pool_delete for the one command and removes it again (not set before) even when rm fails', async () => {
    const { d, admin } = driver({
      [ceph('config dump', true)]: ok(JSON.stringify([{ section: 'global', name: 'fsid', value: 'x' }])),
      [ceph('config set mon mon_allow_pool_delete true')]: ok(''),
      [ceph('osd pool rm data data --yes-i-really-really-mean-it')]: {
        code: 1,
        stdout: '',
        stderr: 'Error EPERM: pool deletion is disabled\n',
      },
      [ceph('config rm mon mon_allow_pool_delete')]: ok(''),
    });
    await expect(d.deletePool('data')).rejects.toThrow(/EPERM/);
    expect(admin.commands).toEqual([
      ceph('config dump', true),
      ceph('config set mon mon_allow_pool_delete true'),
      ceph('osd pool rm data data --yes-i-really-really-mean-it'),
      ceph('config rm mon mon_allow_pool_delete'),
    ]);
  });

  it("pool deletion leaves an operator's mon_allow_pool_delete=true as it was: no set, no reset", async () => {
    const { d, admin } = driver({
      [ceph('config dump', true)]: ok(
        JSON.stringify([{ section: 'mon', name: 'mon_allow_pool_delete', value: 'true' }]),
      ),
      [ceph('osd pool rm data data --yes-i-really-really-mean-it')]: ok("pool 'data' removed\n"),
    });
    await d.deletePool('data');
    expect(admin.commands).toEqual([
      ceph('config dump', true),
      ceph('osd pool rm data data --yes-i-really-really-mean-it'),
    ]);
  });

  it('pool deletion puts back the value recorded before the first attempt (an explicit false), not what an interrupted attempt left', async () => {
    const { d, admin } = driver({
      // An earlier attempt set true and died before restoring: the mons now say true.
      [ceph('config dump', true)]: ok(
        JSON.stringify([{ section: 'mon', name: 'mon_allow_pool_delete', value: 'true' }]),
      ),
      [ceph('config set mon mon_allow_pool_delete true')]: ok(''),
      [ceph('osd pool rm data data --yes-i-really-really-mean-it')]: ok("pool 'data' removed\n"),
      [ceph('config set mon mon_allow_pool_delete false')]: ok(''),
    });
    await d.deletePool('data', 'false');
    expect(admin.commands).toEqual([
      ceph('config set mon mon_allow_pool_delete true'),
      ceph('osd pool rm data data --yes-i-really-really-mean-it'),
      ceph('config set mon mon_allow_pool_delete false'),
    ]);
    expect(await d.poolDeleteFlag()).toBe('true');
  });

  it('pool create names the rule (replicated) or the profile (erasure); a missing profile reads as null (ENOENT)', async () => {
    const { d, admin } = driver({
      [ceph('osd pool create rbd 32 32 replicated nf-replicated-host')]: ok("pool 'rbd' created\n"),
      [ceph('osd pool create obj 32 32 erasure nf-k2m1-host')]: ok("pool 'obj' created\n"),
      [ceph('osd erasure-code-profile set nf-k2m1-host k=2 m=1 crush-failure-domain=host')]: ok(''),
      [ceph('osd erasure-code-profile get nope', true)]: {
        code: 2,
        stdout: '',
        stderr: "Error ENOENT: unknown erasure code profile 'nope'\n",
      },
    });
    await d.createPool({
      name: 'rbd',
      type: 'replicated',
      pg_num: 32,
      crush_rule: 'nf-replicated-host',
      erasure_profile: null,
    });
    await d.setErasureProfile({ name: 'nf-k2m1-host', k: 2, m: 1, failure_domain: 'host' });
    await d.createPool({ name: 'obj', type: 'erasure', pg_num: 32, crush_rule: null, erasure_profile: 'nf-k2m1-host' });
    expect(await d.erasureProfile('nope')).toBeNull();
    expect(admin.commands).toHaveLength(4);
    await expect(
      d.createPool({ name: 'x; rm -rf /', type: 'replicated', pg_num: 8, crush_rule: null, erasure_profile: null }),
    ).rejects.toThrow(/invalid/);
  });

  it('pool set: a rule by name (the .mgr pool onto the cluster rule), numbers and modes; anything else is refused before a command runs', async () => {
    const { d, admin } = driver({
      [ceph('osd pool set .mgr crush_rule nf-replicated-rack')]: ok('set pool 1 crush_rule to nf-replicated-rack\n'),
      [ceph('osd pool set rbd size 3')]: ok('set pool 2 size to 3\n'),
    });
    await d.setPool('.mgr', 'crush_rule', 'nf-replicated-rack');
    await d.setPool('rbd', 'size', '3');
    await expect(d.setPool('rbd', 'crush_rule', 'rule; reboot')).rejects.toThrow(/invalid/);
    await expect(d.setPool('rbd', 'size', 'three-ish')).rejects.toThrow(/invalid/);
    expect(admin.commands).toEqual([
      ceph('osd pool set .mgr crush_rule nf-replicated-rack'),
      ceph('osd pool set rbd size 3'),
    ]);
  });

  it('createOsd is idempotent: an OSD already on the device is returned without adding another; "Created no osd(s)" is a failure', async () => {
    const meta = fixture('osd_metadata.json');
    const { d, admin } = driver({ [ceph('osd metadata', true)]: ok(meta) });
    expect(await d.createOsd('storage-01', 'nvme1n1')).toEqual({ osd_id: 1 });
    expect(admin.commands).toEqual([ceph('osd metadata', true)]);

    const empty = driver({
      [ceph('osd metadata', true)]: ok('\n[]\n'),
      [ceph('orch daemon add osd storage-09:/dev/sdq')]: ok('Created no osd(s) on host storage-09; already created?\n'),
    });
    await expect(empty.d.createOsd('storage-09', 'sdq')).rejects.toThrow(/created no OSD/);
  });

  it('mon placement, host CRUSH location under rack and zone, replicated rule for the failure domain', async () => {
    const { d, admin } = driver({
      [ceph("orch apply mon '--placement=3 a b c'")]: ok('Scheduled mon update...\n'),
      [ceph('osd crush add-bucket z1 zone')]: ok(''),
      [ceph('osd crush move z1 root=default')]: ok(''),
      [ceph('osd crush add-bucket r1 rack')]: ok(''),
      [ceph('osd crush move r1 zone=z1')]: ok(''),
      [ceph('osd crush move a rack=r1')]: ok(''),
      [ceph('osd crush rule create-replicated nf-replicated-rack default rack')]: ok(''),
    });
    await d.placeDaemons('mon', ['a', 'b', 'c']);
    await d.setCrushLocation({ hostname: 'a', address: '10.0.0.1', rack: 'r1', zone: 'z1' });
    await d.createCrushRule('nf-replicated-rack', 'rack');
    expect(admin.commands).toHaveLength(7);
  });

  it('deletion on a host: rm-cluster and zap run there, and are skipped when the cluster never got an fsid', async () => {
    const fsid = '49a8bc70-471b-4b60-b1d5-43c11e199350';
    const { d, host } = driver(
      {},
      {
        [`cephadm rm-cluster --fsid ${fsid} --force`]: ok(''),
        [`cephadm ceph-volume --fsid ${fsid} -- lvm zap --destroy /dev/sdb`]: ok(''),
      },
    );
    await d.removeHostDaemons('storage-01', fsid);
    await d.zapDevices('storage-01', fsid, ['sdb']);
    await d.removeHostDaemons('storage-01', null);
    await d.zapDevices('storage-01', null, ['sdb']);
    expect(host.commands).toEqual([
      `cephadm rm-cluster --fsid ${fsid} --force`,
      `cephadm ceph-volume --fsid ${fsid} -- lvm zap --destroy /dev/sdb`,
    ]);
  });

  it('the OSD devices of a cluster on a host come from ceph-volume lvm list there: block volumes of that fsid only', async () => {
    const fsid = '49a8bc70-471b-4b60-b1d5-43c11e199350';
    const other = '11111111-2222-4333-8444-555555555555';
    const lvmList = JSON.stringify({
      '0': [{ type: 'block', devices: ['/dev/sdb'], tags: { 'ceph.cluster_fsid': fsid, 'ceph.osd_id': '0' } }],
      '3': [
        { type: 'block', devices: ['/dev/nvme0n1'], tags: { 'ceph.cluster_fsid': fsid, 'ceph.osd_id': '3' } },
        { type: 'db', devices: ['/dev/nvme9n1'], tags: { 'ceph.cluster_fsid': fsid, 'ceph.osd_id': '3' } },
      ],
      '7': [{ type: 'block', devices: ['/dev/sdc'], tags: { 'ceph.cluster_fsid': other, 'ceph.osd_id': '7' } }],
    });
    expect(osdDevicesOfCluster(`Inferring config /var/lib/ceph/${fsid}/config\n${lvmList}`, fsid)).toEqual([
      'nvme0n1',
      'sdb',
    ]);
    expect(osdDevicesOfCluster('{}', fsid)).toEqual([]);
    expect(() => osdDevicesOfCluster('no json here', fsid)).toThrow(DriverError);

    const { d, host } = driver({}, { [`cephadm ceph-volume --fsid ${fsid} -- lvm list --format json`]: ok(lvmList) });
    expect(await d.osdDevicesOn('storage-01', fsid)).toEqual(['nvme0n1', 'sdb']);
    expect(await d.osdDevicesOn('storage-01', null)).toEqual([]);
    expect(host.commands).toEqual([`cephadm ceph-volume --fsid ${fsid} -- lvm list --format json`]);
  });
});
