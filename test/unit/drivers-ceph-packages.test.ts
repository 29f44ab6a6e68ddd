import { describe, expect, it } from 'vitest';
import { createCephCliDriver } from '../../drivers/real/ceph-cli';
import { APT_SOURCE_FILE, APT_UPDATE_OWN_SOURCE, ensureRelease } from '../../drivers/real/ceph-packages';
import { parseConf, parseDeviceCheck, parseRawList } from '../../drivers/real/ceph-packages-lifecycle';
import { DriverError, type ExecOptions, type ExecResult, type ShellSession } from '../../drivers/types';
import { commandFailed } from '../../drivers/driver-errors';
import { ConfigError, parseCephPackagesConfig } from '../../lib/config';

/**
 * The package deployer's command plan (docs/clusters.md §Deployers) on fake shells: which commands it
 * runs on which node, in which order, and what it writes there. The same code ran against the
 * release lab's real Reef/Tentacle packages (test/lab/release/journey.test.ts).
 */
const FSID = '49a8bc70-471b-4b60-b1d5-43c11e199350';
const REEF = 'ceph version 18.2.7 (6b0e988052ec84cf2d4a54ff9bbbc5e720b621ad) reef (stable)\n';
const TENTACLE = 'ceph version 20.2.4 (7f793731f1b39eb4f465e960113d2363c311b964) tentacle (stable - RelWithDebInfo)\n';
const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' });
const fail = (code: number, stderr = ''): ExecResult => ({ code, stdout: '', stderr });
const ceph = (args: string, json = false) => `ceph --connect-timeout 10 ${args}${json ? ' -f json' : ''}`;

/** A shell answering through a function; every command is recorded, on one shared log per node. */
class FnShell implements ShellSession {
  readonly hostKeyFingerprint = 'SHA256:fake';
  constructor(
    readonly name: string,
    private readonly log: string[],
    private readonly answer: (command: string) => ExecResult | undefined,
  ) {}
  async exec(command: string, _o?: ExecOptions): Promise<ExecResult> {
    this.log.push(`${this.name}: ${command}`);
    return this.answer(command) ?? fail(127, `sh: ${command.split(' ')[0]}: not found`);
  }
  async run(command: string, o?: ExecOptions): Promise<string> {
    const r = await this.exec(command, o);
    if (r.code !== 0) throw commandFailed(command, r);
    return r.stdout;
  }
  close(): void {}
}

/** The files a `sh -c` script of the deployer writes (`echo <base64> | base64 -d > path.nf-tmp`). */
function written(command: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of command.matchAll(/echo ([A-Za-z0-9+/=]+) \| base64 -d > (\S+)\.nf-tmp/g))
    out[m[2]!] = Buffer.from(m[1]!, 'base64').toString('utf8');
  return out;
}

function quorumStatus(mons: { name: string; addr: string }[], quorum = mons.map((m) => m.name)) {
  return JSON.stringify({
    quorum_names: quorum,
    monmap: {
      mons: mons.map((m) => ({ name: m.name, public_addrs: { addrvec: [{ type: 'v2', addr: m.addr, nonce: 0 }] } })),
    },
  });
}

describe('package deployer: parsers', () => {
  it('ceph-volume raw list: OSDs with their cluster, lines before the JSON skipped; {} is none', () => {
    const list = `--> some notice\n${JSON.stringify({
      'a-uuid': { ceph_fsid: FSID, device: '/dev/sdb', osd_id: 3, osd_uuid: 'a-uuid', type: 'bluestore' },
    })}`;
    expect(parseRawList(list)).toEqual([{ osd_id: 3, osd_uuid: 'a-uuid', ceph_fsid: FSID, device: 'sdb' }]);
    expect(parseRawList('{}')).toEqual([]);
    expect(() => parseRawList('nonsense')).toThrow(DriverError);
  });

  it('device check lines: ok is available, anything else a rejected reason', () => {
    expect(
      parseDeviceCheck('n1', 'sdb ok\nsda has partitions or holders\nsdc holds a Ceph OSD (bluestore label)\n'),
    ).toEqual([
      { host: 'n1', device: 'sdb', available: true, rejected_reasons: [] },
      { host: 'n1', device: 'sda', available: false, rejected_reasons: ['has partitions or holders'] },
      { host: 'n1', device: 'sdc', available: false, rejected_reasons: ['holds a Ceph OSD (bluestore label)'] },
    ]);
  });

  it('NF_CEPH_APT_SOURCES, NF_CEPH_MON_PORT_BASE, NF_CEPH_BIND_PORT_RANGE: parsed, or refused at start', () => {
    expect(
      parseCephPackagesConfig({
        NF_CEPH_APT_SOURCES: '{"tentacle":"deb [trusted=yes] file:/srv/nflab/apt/tentacle ./"}',
        NF_CEPH_MON_PORT_BASE: '16800',
        NF_CEPH_BIND_PORT_RANGE: '16810-16899',
      }),
    ).toEqual({
      aptSources: { tentacle: 'deb [trusted=yes] file:/srv/nflab/apt/tentacle ./' },
      monPortBase: 16800,
      bindPortRange: [16810, 16899],
    });
    expect(parseCephPackagesConfig({})).toEqual({ aptSources: {}, monPortBase: null, bindPortRange: null });
    expect(() => parseCephPackagesConfig({ NF_CEPH_APT_SOURCES: '["deb x"]' })).toThrow(ConfigError);
    expect(() => parseCephPackagesConfig({ NF_CEPH_APT_SOURCES: '{"tentacle":"rm -rf /"}' })).toThrow(ConfigError);
    expect(() => parseCephPackagesConfig({ NF_CEPH_BIND_PORT_RANGE: '20-10' })).toThrow(ConfigError);
  });
});

describe('package deployer: packages of a release (NF_CEPH_APT_SOURCES)', () => {
  const input = (aptSources: Record<string, string>) => ({
    host: 'labnode1',
    target: 'tentacle',
    roles: ['osd' as const],
    aptSources,
    mode: 'upgrade' as const,
    sudo: '',
    timeoutMs: 1000,
  });

  it('already at the target: verified only, no apt at all', async () => {
    const log: string[] = [];
    const s = new FnShell('n', log, (c) => (c.endsWith('--version') ? ok(TENTACLE) : undefined));
    expect(await ensureRelease(s, input({}))).toEqual({ installed: false });
    expect(log).toEqual(['n: ceph-osd --version', 'n: ceph --version']);
  });

  it('with a source for the release: written to its own list, only that source updated, installed, then verified', async () => {
    const log: string[] = [];
    let installed = false;
    const s = new FnShell('n', log, (c) => {
      if (c.endsWith('--version')) return ok(installed ? TENTACLE : REEF);
      if (c.includes('apt-get') && c.includes(' install ')) installed = true;
      return ok();
    });
    const source = 'deb [trusted=yes] file:/srv/nflab/apt/tentacle ./';
    expect(await ensureRelease(s, input({ tentacle: source }))).toEqual({ installed: true });
    expect(log.filter((l) => !l.endsWith('--version'))).toEqual([
      `n: sh -c 'echo '\\''${source}'\\'' > ${APT_SOURCE_FILE}'`,
      `n: ${APT_UPDATE_OWN_SOURCE}`,
      'n: DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install --no-install-recommends ceph-osd ceph-base ceph-common ceph-volume',
    ]);
    expect(APT_UPDATE_OWN_SOURCE).toContain(
      '-o Dir::Etc::sourcelist=sources.list.d/nodefoundry-ceph.list -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 update',
    );
  });

  it('apt that leaves the old release: fails for good, naming the host and what is installed', async () => {
    const s = new FnShell('n', [], (c) => (c.endsWith('--version') ? ok(REEF) : ok()));
    const err = await ensureRelease(s, input({})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect(err).toMatchObject({ retryable: false, type: 'command_failed' });
    expect((err as Error).message).toBe(
      "labnode1: Ceph tentacle is not installed after apt-get (the host's own apt sources): ceph-osd 18.2.7 (reef), ceph 18.2.7 (reef)",
    );
  });
});

describe('package deployer: cluster lifecycle command plan', () => {
  function lab(answer: (node: string, c: string) => ExecResult | undefined) {
    const log: string[] = [];
    const d = createCephCliDriver({
      adminShell: async () => new FnShell('labnode1', log, (c) => answer('labnode1', c)),
      hostShell: async (h) => new FnShell(h, log, (c) => answer(h, c)),
      packages: { aptSources: {}, monPortBase: 16800, bindPortRange: [16810, 16899] },
    });
    return { d, log };
  }

  it('bootstrap on a bare node with Reef installed: no apt; keys, monmap, mkfs, mon enabled and started, quorum, host recorded, a mgr; ceph.conf as documented', async () => {
    let monUp = false;
    let fsid = '';
    const { d, log } = lab((_n, c) => {
      if (c === ceph('fsid', true))
        return monUp ? ok(JSON.stringify({ fsid })) : fail(1, 'error calling conf_read_file');
      if (c.endsWith('--version')) return ok(REEF);
      if (c === 'base64 -w0 /etc/ceph/ceph.conf') return fail(1, 'No such file');
      if (c.startsWith('sh -c') && c.includes('ceph-mon --cluster ceph --mkfs')) {
        fsid = /--fsid (\S+)/.exec(c)![1]!;
        monUp = true;
        return ok();
      }
      if (c === ceph('quorum_status', true)) return ok(quorumStatus([{ name: 'labnode1', addr: '10.0.0.1:16800' }]));
      if (c === ceph('config-key get nodefoundry/hosts')) return fail(2, 'Error ENOENT');
      if (c.startsWith(ceph('config-key set nodefoundry/hosts'))) return ok();
      if (c.startsWith(ceph('auth get-or-create mgr.labnode1'))) return ok('[mgr.labnode1]\n\tkey = AQ==\n');
      if (c.startsWith('sh -c') && c.includes('ceph-mgr@labnode1')) return ok();
      return undefined;
    });
    expect(await d.bootstrap({ host: 'labnode1', address: '10.0.0.1', cephVersion: 'reef', replication: 3 })).toEqual({
      fsid,
    });
    expect(log.some((l) => l.includes('apt-get'))).toBe(false);
    const script = log.find((l) => l.includes('ceph-mon --cluster ceph --mkfs'))!;
    expect(script).toContain(
      `monmaptool --create --clobber --addv labnode1 '\\''[v2:10.0.0.1:16800]'\\'' --fsid ${fsid}`,
    );
    expect(script).toContain('--setuser ceph --setgroup ceph');
    expect(script).toMatch(/systemctl enable ceph-mon@labnode1\nsystemctl start ceph-mon@labnode1/);
    const conf = parseConf(written(script)['/etc/ceph/ceph.conf']!);
    expect(conf.find((s) => s.section === 'global')!.entries).toEqual(
      expect.arrayContaining([
        ['fsid', fsid],
        ['mon_host', '[v2:10.0.0.1:16800]'],
        ['public_addr', '10.0.0.1'],
        ['osd_pool_default_size', '3'],
        ['osd_pool_default_min_size', '2'],
        ['ms_bind_port_min', '16810'],
        ['ms_bind_port_max', '16899'],
      ]),
    );
    expect(conf.find((s) => s.section === 'mon.labnode1')!.entries).toEqual([['public_addrv', '[v2:10.0.0.1:16800]']]);
    expect(log.find((l) => l.includes('config-key set'))).toContain(
      JSON.stringify({ hosts: [{ hostname: 'labnode1', address: '10.0.0.1' }] }).replace(/"/g, '"'),
    );
    const mgr = log.find((l) => l.includes('ceph-mgr@labnode1'))!;
    expect(mgr).toMatch(/systemctl enable ceph-mgr@labnode1\nsystemctl start ceph-mgr@labnode1/);
    expect(written(mgr)['/var/lib/ceph/mgr/ceph-labnode1/keyring']).toBe('[mgr.labnode1]\n\tkey = AQ==\n');

    // Idempotent: a node that runs the cluster answers its fsid, and nothing is made again.
    log.length = 0;
    expect(await d.bootstrap({ host: 'labnode1', address: '10.0.0.1', cephVersion: 'reef', replication: 3 })).toEqual({
      fsid,
    });
    expect(log.some((l) => l.includes('mkfs') || l.includes('systemctl'))).toBe(false);
  });

  it('a second mon gets the next free port, the monmap and mon. key from the cluster, mkfs on its host, and joins; every host then learns mon_host', async () => {
    const conf = [
      '[global]',
      `fsid = ${FSID}`,
      'mon_host = [v2:10.0.0.1:16800]',
      'public_addr = 10.0.0.1',
      '[mon.labnode1]',
      'public_addrv = [v2:10.0.0.1:16800]',
    ].join('\n');
    let joined = false;
    const { d, log } = lab((n, c) => {
      if (c === ceph('config-key get nodefoundry/hosts'))
        return ok(
          JSON.stringify({
            hosts: [
              { hostname: 'labnode1', address: '10.0.0.1' },
              { hostname: 'labnode2', address: '10.0.0.2' },
            ],
          }),
        );
      if (c === ceph('quorum_status', true))
        return ok(
          quorumStatus([
            { name: 'labnode1', addr: '10.0.0.1:16800' },
            ...(joined ? [{ name: 'labnode2', addr: '10.0.0.2:16801' }] : []),
          ]),
        );
      if (c === 'mktemp -d') return ok('/tmp/x\n');
      if (c.startsWith(ceph('mon getmap')) || c.startsWith(ceph('auth get mon.'))) return ok();
      if (c === 'base64 -w0 /tmp/x/monmap') return ok('bW9ubWFw');
      if (c === 'base64 -w0 /tmp/x/keyring') return ok(Buffer.from('[mon.]\n\tkey = AQ==\n').toString('base64'));
      if (c === 'base64 -w0 /etc/ceph/ceph.conf') return ok(Buffer.from(conf).toString('base64'));
      if (c === 'rm -rf /tmp/x') return ok();
      if (n === 'labnode2' && c.includes('ceph-mon --cluster ceph --mkfs -i labnode2')) {
        joined = true;
        return ok();
      }
      if (c.startsWith('sh -c')) return ok();
      return undefined;
    });
    await d.placeDaemons('mon', ['labnode1', 'labnode2']);
    const mkfs = log.find((l) => l.startsWith('labnode2: ') && l.includes('--mkfs'))!;
    const newConf = parseConf(written(mkfs)['/etc/ceph/ceph.conf']!);
    expect(newConf.find((s) => s.section === 'mon.labnode2')!.entries).toEqual([
      ['public_addrv', '[v2:10.0.0.2:16801]'],
    ]);
    expect(newConf.find((s) => s.section === 'global')!.entries).toEqual(
      expect.arrayContaining([
        ['public_addr', '10.0.0.2'],
        ['mon_host', '[v2:10.0.0.1:16800],[v2:10.0.0.2:16801]'],
      ]),
    );
    expect(mkfs).toMatch(/systemctl enable ceph-mon@labnode2\nsystemctl start ceph-mon@labnode2/);
    // No mon removed; every recorded host got the final configuration, each with its own address.
    expect(log.some((l) => l.includes('mon remove'))).toBe(false);
    const last = log.slice(-2);
    expect(last.map((l) => l.split(':')[0])).toEqual(['labnode1', 'labnode2']);
    expect(parseConf(written(last[1]!)['/etc/ceph/ceph.conf']!).find((s) => s.section === 'global')!.entries).toEqual(
      expect.arrayContaining([['public_addr', '10.0.0.2']]),
    );
  });

  it('mgrs placed: a mgr started moments ago (a key, no beacon yet in mgr dump) is removed too; a key of a host no longer recorded is left alone', async () => {
    const { d, log } = lab((_n, c) => {
      if (c === ceph('config-key get nodefoundry/hosts'))
        return ok(
          JSON.stringify({
            hosts: ['labnode1', 'labnode2', 'labnode3'].map((h, i) => ({ hostname: h, address: `10.0.0.${i + 1}` })),
          }),
        );
      if (c.startsWith(ceph('auth get-or-create mgr.'))) return ok('[mgr.x]\n\tkey = AQ==\n');
      // labnode3's mgr was started by a placement cancelled a moment ago: keyed, not in mgr dump yet.
      if (c === ceph('mgr dump', true))
        return ok(JSON.stringify({ available: true, active_name: 'labnode1', standbys: [{ name: 'labnode2' }] }));
      if (c === ceph('auth ls', true))
        return ok(
          JSON.stringify({
            auth_dump: ['client.admin', 'mgr.labnode1', 'mgr.labnode2', 'mgr.labnode3', 'mgr.labnode9', 'osd.0'].map(
              (entity) => ({ entity, key: 'AQ==' }),
            ),
          }),
        );
      if (c.startsWith(ceph('auth rm mgr.'))) return ok();
      if (c.startsWith('sh -c')) return ok();
      return undefined;
    });
    await d.placeDaemons('mgr', ['labnode1', 'labnode2']);
    expect(log.filter((l) => l.includes('systemctl stop ceph-mgr@')).map((l) => l.split(':')[0])).toEqual(['labnode3']);
    expect(log.filter((l) => l.includes('auth rm'))).toEqual([`labnode1: ${ceph('auth rm mgr.labnode3')}`]);
  });

  it('createOsd: raw prepare and activate on the host, the unit enabled and started, read back from osd metadata; an OSD already there is returned as is', async () => {
    let prepared = false;
    let booted = false;
    const raw = () =>
      ok(
        prepared
          ? JSON.stringify({ u: { ceph_fsid: FSID, device: '/dev/sdb', osd_id: 4, osd_uuid: 'u', type: 'bluestore' } })
          : '{}',
      );
    const { d, log } = lab((n, c) => {
      if (c === ceph('osd metadata', true))
        return ok(
          JSON.stringify(
            booted ? [{ id: 4, hostname: 'labnode2', devices: 'loop8', bluestore_bdev_dev_node: '/dev/sdb' }] : [],
          ),
        );
      if (c === ceph('fsid', true)) return ok(JSON.stringify({ fsid: FSID }));
      if (n === 'labnode2' && c === 'ceph-volume raw list /dev/sdb --format json') return raw();
      if (n === 'labnode2' && c === 'ceph-volume raw prepare --bluestore --data /dev/sdb') {
        prepared = true;
        return ok();
      }
      if (n === 'labnode2' && c.startsWith('sh -c') && c.includes('raw activate')) {
        booted = true;
        return ok();
      }
      return undefined;
    });
    expect(await d.createOsd('labnode2', 'sdb')).toEqual({ osd_id: 4 });
    const host = log.filter((l) => l.startsWith('labnode2: '));
    expect(host.slice(0, 3)).toEqual([
      'labnode2: ceph-volume raw list /dev/sdb --format json',
      'labnode2: ceph-volume raw prepare --bluestore --data /dev/sdb',
      'labnode2: ceph-volume raw list /dev/sdb --format json',
    ]);
    expect(host[3]).toContain(
      'ceph-volume raw activate --device /dev/sdb --no-tmpfs --no-systemd\nchown -R ceph:ceph /var/lib/ceph/osd/ceph-4\nsystemctl enable ceph-osd@4\nsystemctl start ceph-osd@4',
    );
    log.length = 0;
    expect(await d.createOsd('labnode2', 'sdb')).toEqual({ osd_id: 4 });
    expect(log.filter((l) => l.startsWith('labnode2: '))).toEqual([]);
  });

  it('createOsd refuses a device holding another cluster’s OSD', async () => {
    const { d } = lab((_n, c) => {
      if (c === ceph('osd metadata', true)) return ok('[]');
      if (c === ceph('fsid', true)) return ok(JSON.stringify({ fsid: FSID }));
      if (c.startsWith('ceph-volume raw list'))
        return ok(JSON.stringify({ u: { ceph_fsid: 'other', device: '/dev/sdb', osd_id: 1, osd_uuid: 'u' } }));
      return undefined;
    });
    await expect(d.createOsd('labnode2', 'sdb')).rejects.toMatchObject({
      retryable: false,
      message: 'labnode2:/dev/sdb holds OSD 1 of another cluster (other): zap it first',
    });
  });

  /** `ceph osd dump` with osd.3 in the given state. */
  const osdDump = (state: string[]) =>
    ok(
      JSON.stringify({
        flags: '',
        osds: [
          { osd: 3, state },
          { osd: 4, state: ['exists', 'up'] },
        ],
      }),
    );

  it('destroyOsd: the old daemon stopped, disabled and its directory removed on the host, then ceph osd destroy keeping the id, read back destroyed; again is a no-op on the admin', async () => {
    let destroyed = false;
    const { d, log } = lab((n, c) => {
      if (n === 'labnode2' && c.startsWith('sh -c')) return ok();
      if (c === ceph('osd dump', true)) return osdDump(destroyed ? ['destroyed', 'exists'] : ['exists']);
      if (c === ceph('osd destroy 3 --yes-i-really-mean-it')) {
        destroyed = true;
        return ok();
      }
      return undefined;
    });
    await d.destroyOsd('labnode2', 3);
    expect(log[0]).toContain(
      'systemctl stop ceph-osd@3 || true\nsystemctl disable ceph-osd@3 || true\nif grep -q " /var/lib/ceph/osd/ceph-3 " /proc/mounts; then umount /var/lib/ceph/osd/ceph-3; fi\nrm -rf /var/lib/ceph/osd/ceph-3',
    );
    expect(log.slice(1)).toEqual([
      `labnode1: ${ceph('osd dump', true)}`,
      `labnode1: ${ceph('osd destroy 3 --yes-i-really-mean-it')}`,
      `labnode1: ${ceph('osd dump', true)}`,
    ]);
    log.length = 0;
    await d.destroyOsd('labnode2', 3);
    expect(log.filter((l) => l.includes('osd destroy'))).toEqual([]);
  });

  it('destroyOsd fails when Ceph does not show the OSD destroyed afterwards, and for an OSD the map lacks', async () => {
    const { d } = lab((n, c) => {
      if (n === 'labnode2' && c.startsWith('sh -c')) return ok();
      if (c === ceph('osd dump', true)) return osdDump(['exists']);
      if (c === ceph('osd destroy 3 --yes-i-really-mean-it')) return ok();
      return undefined;
    });
    await expect(d.destroyOsd('labnode2', 3)).rejects.toMatchObject({
      retryable: false,
      message: expect.stringContaining('not destroyed'),
    });
    await expect(d.destroyOsd('labnode2', 9)).rejects.toMatchObject({ message: expect.stringContaining('no osd.9') });
  });

  it('recreateOsd: the new device zapped, raw prepare with --osd-id keeps the id, activated and started, read back from osd metadata; an OSD already there is left alone', async () => {
    let prepared = false;
    let booted = false;
    const { d, log } = lab((n, c) => {
      if (c === ceph('osd metadata', true))
        return ok(JSON.stringify(booted ? [{ id: 3, hostname: 'labnode2', devices: 'sdc' }] : []));
      if (c === ceph('fsid', true)) return ok(JSON.stringify({ fsid: FSID }));
      if (c === ceph('osd dump', true)) return osdDump(['destroyed', 'exists']);
      if (n === 'labnode2' && c === 'ceph-volume raw list /dev/sdc --format json')
        return ok(
          prepared
            ? JSON.stringify({ u: { ceph_fsid: FSID, device: '/dev/sdc', osd_id: 3, osd_uuid: 'u' } })
            : // A used disk from elsewhere: another cluster's label, zapped.
              JSON.stringify({ v: { ceph_fsid: 'other', device: '/dev/sdc', osd_id: 3, osd_uuid: 'v' } }),
        );
      if (n === 'labnode2' && c === 'ceph-volume lvm zap --destroy /dev/sdc') return ok();
      if (n === 'labnode2' && c === 'ceph-volume raw prepare --bluestore --data /dev/sdc --osd-id 3') {
        prepared = true;
        return ok();
      }
      if (n === 'labnode2' && c.startsWith('sh -c') && c.includes('raw activate')) {
        booted = true;
        return ok();
      }
      if (n === 'labnode2' && c.startsWith('sh -c')) return ok();
      return undefined;
    });
    await d.recreateOsd('labnode2', 'sdc', 3);
    const host = log.filter((l) => l.startsWith('labnode2: '));
    expect(host[0]).toBe('labnode2: ceph-volume raw list /dev/sdc --format json');
    expect(host[1]).toContain('rm -rf /var/lib/ceph/osd/ceph-3');
    expect(host.slice(2, 5)).toEqual([
      'labnode2: ceph-volume lvm zap --destroy /dev/sdc',
      'labnode2: ceph-volume raw prepare --bluestore --data /dev/sdc --osd-id 3',
      'labnode2: ceph-volume raw list /dev/sdc --format json',
    ]);
    expect(host[5]).toContain(
      'ceph-volume raw activate --device /dev/sdc --no-tmpfs --no-systemd\nchown -R ceph:ceph /var/lib/ceph/osd/ceph-3\nsystemctl enable ceph-osd@3\nsystemctl start ceph-osd@3',
    );
    log.length = 0;
    await d.recreateOsd('labnode2', 'sdc', 3);
    expect(log.filter((l) => l.startsWith('labnode2: '))).toEqual([]);
  });

  it('recreateOsd never zaps a device holding another OSD of the cluster, nor recreates an id that is not destroyed', async () => {
    const answer = (metadata: unknown[], raw: unknown, state: string[]) =>
      lab((_n, c) => {
        if (c === ceph('osd metadata', true)) return ok(JSON.stringify(metadata));
        if (c === ceph('fsid', true)) return ok(JSON.stringify({ fsid: FSID }));
        if (c === ceph('osd dump', true)) return osdDump(state);
        if (c.startsWith('ceph-volume raw list')) return ok(JSON.stringify(raw));
        if (c.startsWith('sh -c')) return ok();
        return undefined;
      });
    const live = answer([{ id: 4, hostname: 'labnode2', devices: 'sdc' }], {}, ['destroyed', 'exists']);
    await expect(live.d.recreateOsd('labnode2', 'sdc', 3)).rejects.toMatchObject({
      message: 'labnode2:/dev/sdc already holds osd.4; not zapping it',
    });
    const labelled = answer([], { u: { ceph_fsid: FSID, device: '/dev/sdc', osd_id: 4, osd_uuid: 'u' } }, [
      'destroyed',
    ]);
    await expect(labelled.d.recreateOsd('labnode2', 'sdc', 3)).rejects.toMatchObject({
      message: 'labnode2:/dev/sdc holds osd.4 of this cluster; not zapping it',
    });
    expect(labelled.log.some((l) => l.includes('zap'))).toBe(false);
    const notDestroyed = answer([], {}, ['exists', 'up']);
    await expect(notDestroyed.d.recreateOsd('labnode2', 'sdc', 3)).rejects.toMatchObject({
      message: 'osd.3 is not destroyed; it cannot be recreated',
    });
    expect(notDestroyed.log.some((l) => l.includes('zap') || l.includes('prepare'))).toBe(false);
  });

  it('deletion on a host: every ceph unit stopped and disabled, data and config removed; the devices of this cluster (by ceph-volume) zapped', async () => {
    const { d, log } = lab((_n, c) => {
      if (c.startsWith('sh -c')) return ok();
      if (c === 'lsblk -J -b -d -o NAME,SIZE,ROTA,TRAN,TYPE')
        return ok(
          JSON.stringify({
            blockdevices: [
              { name: 'sda', size: 1e11, rota: false, tran: 'sata', type: 'disk' },
              { name: 'sdb', size: 8e9, rota: false, tran: 'sata', type: 'disk' },
              { name: 'sdc', size: 8e9, rota: false, tran: 'sata', type: 'disk' },
            ],
          }),
        );
      if (c === 'ceph-volume raw list /dev/sda --format json') return fail(1, 'not a bluestore device');
      if (c === 'ceph-volume raw list /dev/sdb --format json')
        return ok(JSON.stringify({ u: { ceph_fsid: FSID, device: '/dev/sdb', osd_id: 0, osd_uuid: 'u' } }));
      if (c === 'ceph-volume raw list /dev/sdc --format json')
        return ok(JSON.stringify({ v: { ceph_fsid: 'other-cluster', device: '/dev/sdc', osd_id: 0, osd_uuid: 'v' } }));
      if (c === 'ceph-volume lvm zap --destroy /dev/sdb') return ok();
      return undefined;
    });
    await d.removeHostDaemons('labnode3', FSID);
    const stop = log[0]!;
    expect(stop).toContain(
      `if [ -f /etc/ceph/ceph.conf ] && ! grep -qx '\\''fsid = ${FSID}'\\'' /etc/ceph/ceph.conf; then exit 0; fi`,
    );
    expect(stop).toContain('systemctl stop ceph-$t@$i\n  systemctl disable ceph-$t@$i');
    expect(stop).toContain('rm -rf /var/lib/ceph/osd/ceph-* /var/lib/ceph/mon/ceph-* /var/lib/ceph/mgr/ceph-*');
    const devices = await d.osdDevicesOn('labnode3', FSID);
    expect(devices).toEqual(['sdb']);
    await d.zapDevices('labnode3', FSID, devices);
    expect(log.at(-1)).toBe('labnode3: ceph-volume lvm zap --destroy /dev/sdb');
    expect(await d.osdDevicesOn('labnode3', null)).toEqual([]);
  });
});

describe('cephadm deployer: later operations use cephadm commands', () => {
  it('upgrade: the orchestrator redeploys mon/mgr/OSDs with the target image; OSD units are ceph-<fsid>@osd.N', async () => {
    const log: string[] = [];
    let redeployed = false;
    const answer = (c: string): ExecResult | undefined => {
      if (c === ceph('mon metadata', true))
        return ok(JSON.stringify([{ name: 'a', hostname: 'h1', ceph_version: (redeployed ? TENTACLE : REEF).trim() }]));
      if (c === ceph('osd ls-tree h1', true)) return ok('[0,3]');
      if (c.startsWith(ceph('orch daemon redeploy mon.a'))) redeployed = true;
      if (c.startsWith(ceph('orch daemon'))) return ok('Scheduled\n');
      if (c.startsWith('systemctl ')) return ok();
      if (c === 'test -f /var/run/reboot-required') return fail(1);
      return undefined;
    };
    const d = createCephCliDriver({
      adminShell: async () => new FnShell('admin', log, answer),
      hostShell: async (h) => new FnShell(h, log, answer),
      deployment: 'cephadm',
      fsid: FSID,
      versionPollMs: 5,
    });
    expect(await d.redeployDaemon('mon', 'h1', { mode: 'upgrade', version: 'tentacle', osPackages: false })).toEqual({
      done: true,
    });
    await d.redeployDaemon('mon', 'h1', { mode: 'restart', version: 'reef', osPackages: false });
    await d.stopHostOsds('h1', [0, 3]);
    expect(await d.upgradeHost('h1', { mode: 'upgrade', version: '20.2.4', osPackages: false })).toEqual({
      done: true,
      rebootRequired: false,
    });
    await d.startOsds('h1', [0, 3]);
    expect(log.filter((l) => !l.includes('metadata'))).toEqual([
      `admin: ${ceph('orch daemon redeploy mon.a quay.io/ceph/ceph:v20')}`,
      `admin: ${ceph('orch daemon restart mon.a')}`,
      `h1: systemctl stop ceph-${FSID}@osd.0 ceph-${FSID}@osd.3`,
      `admin: ${ceph('osd ls-tree h1', true)}`,
      `admin: ${ceph('orch daemon redeploy osd.0 quay.io/ceph/ceph:v20.2.4')}`,
      `admin: ${ceph('orch daemon redeploy osd.3 quay.io/ceph/ceph:v20.2.4')}`,
      'h1: test -f /var/run/reboot-required',
      `h1: systemctl start ceph-${FSID}@osd.0 ceph-${FSID}@osd.3`,
    ]);
    expect(log.some((l) => l.includes('apt-get'))).toBe(false);
  });

  it('packages (the default): OSD units are ceph-osd@N, and the upgrade installs and verifies the release', async () => {
    const log: string[] = [];
    let upgraded = false;
    const answer = (c: string): ExecResult | undefined => {
      if (c === ceph('mgr metadata', true))
        return ok(JSON.stringify([{ name: 'h1', hostname: 'h1', ceph_version: (upgraded ? TENTACLE : REEF).trim() }]));
      if (c.endsWith('--version')) return ok(upgraded ? TENTACLE : REEF);
      if (c.includes('apt-get') && c.includes('install')) {
        upgraded = true;
        return ok();
      }
      if (c.startsWith('systemctl ') || c.startsWith('sh -c') || c.includes('apt-get')) return ok();
      return undefined;
    };
    const d = createCephCliDriver({
      adminShell: async () => new FnShell('admin', log, answer),
      hostShell: async (h) => new FnShell(h, log, answer),
      packages: { aptSources: { tentacle: 'deb [trusted=yes] file:/repo ./' }, monPortBase: null, bindPortRange: null },
      versionPollMs: 5,
    });
    await d.redeployDaemon('mgr', 'h1', { mode: 'upgrade', version: 'tentacle', osPackages: false });
    await d.stopOsds('h1', [2]);
    const host = log.filter((l) => l.startsWith('h1: ') && !l.endsWith('--version'));
    expect(host[0]).toContain(APT_SOURCE_FILE);
    expect(host.slice(1)).toEqual([
      `h1: ${APT_UPDATE_OWN_SOURCE}`,
      'h1: DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install --no-install-recommends ceph-mgr ceph-base ceph-common',
      'h1: systemctl restart ceph-mgr@h1',
      'h1: systemctl stop ceph-osd@2',
    ]);
  });
});
