import { describe, expect, it } from 'vitest';
import { createCephCliDriver } from '../../drivers/real/ceph-cli';
import { parseDaemonMetadata } from '../../drivers/real/ceph-cli-upgrade';
import { DriverError, type ExecResult } from '../../drivers/types';
import { ok, ScriptedShell } from '../drivers/fake-shell';

const ceph = (args: string, json = false) => `ceph --connect-timeout 10 ${args}${json ? ' -f json' : ''}`;
const meta = (entries: { name: string; hostname: string }[]) =>
  ok(
    JSON.stringify(
      entries.map((e) => ({
        ...e,
        ceph_version: 'ceph version 16.2.15 (618f440892089921c3e944a991122ddc44e60516) pacific (stable)',
      })),
    ),
  );

function driver(script: Record<string, ExecResult>) {
  const admin = new ScriptedShell(script);
  const host = new ScriptedShell({
    'systemctl restart ceph-mgr@labnode2': ok(''),
    'systemctl restart ceph-mon@labnode2': ok(''),
  });
  return { d: createCephCliDriver({ adminShell: async () => admin, hostShell: async () => host }), admin, host };
}

describe('ceph CLI: restarting a mon or mgr (rolling restart)', () => {
  it('restarts the unit named after the daemon on its host', async () => {
    const { d, host } = driver({
      [ceph('mgr metadata', true)]: meta([
        { name: 'labnode1', hostname: 'labnode1' },
        { name: 'labnode2', hostname: 'labnode2' },
      ]),
    });
    expect(
      await d.redeployDaemon('mgr', 'labnode2', { mode: 'restart', version: '16.2.15', osPackages: false }),
    ).toEqual({ done: true });
    expect(host.commands).toEqual(['systemctl restart ceph-mgr@labnode2']);
  });

  it('a mgr missing from the metadata (respawning after `ceph mgr fail`, ~5 s on 16.2.15) is retryable; a missing mon is not', async () => {
    const { d, host } = driver({
      [ceph('mgr metadata', true)]: meta([{ name: 'labnode1', hostname: 'labnode1' }]),
      [ceph('mon metadata', true)]: meta([{ name: 'labnode1', hostname: 'labnode1' }]),
    });
    const spec = { mode: 'restart' as const, version: '16.2.15', osPackages: false };
    const mgr = await d.redeployDaemon('mgr', 'labnode2', spec).catch((e: unknown) => e);
    expect(mgr).toBeInstanceOf(DriverError);
    expect(mgr).toMatchObject({ type: 'command_failed', retryable: true, message: 'no mgr daemon on labnode2' });
    const mon = await d.redeployDaemon('mon', 'labnode2', spec).catch((e: unknown) => e);
    expect(mon).toMatchObject({ type: 'command_failed', retryable: false, message: 'no mon daemon on labnode2' });
    expect(host.commands).toEqual([]);
  });
});

describe('ceph CLI: upgrading a mgr waits for Ceph to report the new version (spike pitfall 8)', () => {
  const REEF = 'ceph version 18.2.7 (6b0e988052ec84cf2d4a54ff9bbbc5e720b621ad) reef (stable)';
  const TENTACLE = 'ceph version 20.2.4 (7f793731f1b39eb4f465e960113d2363c311b964) tentacle (stable - RelWithDebInfo)';
  const mgrs = (v2: string) =>
    ok(
      JSON.stringify([
        { name: 'labnode1', hostname: 'labnode1', ceph_version: TENTACLE },
        { name: 'labnode2', hostname: 'labnode2', ceph_version: v2 },
      ]),
    );
  const APT =
    'DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y install --only-upgrade ceph-mgr ceph-base ceph-common';

  function upgrading(staleReads: number, versionWaitMs = 5_000) {
    let restarted = false;
    let installed = false;
    let reads = 0;
    const admin = new ScriptedShell({
      // `ceph mgr metadata` still shows reef for `staleReads` reads after the restart.
      [ceph('mgr metadata', true)]: () => {
        if (!restarted) return mgrs(REEF);
        reads += 1;
        return mgrs(reads > staleReads ? TENTACLE : REEF);
      },
    });
    // The package deployer verifies the installed release before and after apt (docs/clusters.md §Deployers).
    const version = () => ok(`${installed ? TENTACLE : REEF}\n`);
    const host = new ScriptedShell({
      [APT]: () => {
        installed = true;
        return ok('');
      },
      'ceph-mgr --version': version,
      'ceph --version': version,
      'systemctl restart ceph-mgr@labnode2': () => {
        restarted = true;
        return ok('');
      },
    });
    const d = createCephCliDriver({
      adminShell: async () => admin,
      hostShell: async () => host,
      versionWaitMs,
      versionPollMs: 5,
    });
    return { d, host, reads: () => reads };
  }
  const spec = { mode: 'upgrade' as const, version: 'tentacle', osPackages: false };

  it('is done only once `ceph mgr metadata` shows the target (the stale old version is waited out)', async () => {
    const u = upgrading(3);
    expect(await u.d.redeployDaemon('mgr', 'labnode2', spec)).toEqual({ done: true });
    expect(u.reads()).toBe(4);
    expect(u.host.commands.filter((c) => !c.endsWith('--version'))).toEqual([
      APT,
      'systemctl restart ceph-mgr@labnode2',
    ]);
  });

  it('bounded: past versionWaitMs it answers not done (the caller polls again; a daemon already at the target is not restarted)', async () => {
    const u = upgrading(Number.MAX_SAFE_INTEGER, 30);
    expect(await u.d.redeployDaemon('mgr', 'labnode2', spec)).toEqual({ done: false });
    const at = upgrading(0);
    await at.d.redeployDaemon('mgr', 'labnode2', spec);
    const again = await at.d.redeployDaemon('mgr', 'labnode2', spec);
    expect(again).toEqual({ done: true });
    expect(at.host.commands.filter((c) => c.startsWith('systemctl'))).toEqual(['systemctl restart ceph-mgr@labnode2']);
  });
});

describe('ceph CLI: require-osd-release and Tentacle version strings (issue 10)', () => {
  it('sets require-osd-release by release name and reads it back from the OSD map', async () => {
    let dump = { require_osd_release: 'reef' };
    const admin = new ScriptedShell({
      [ceph('osd require-osd-release tentacle')]: () => {
        dump = { require_osd_release: 'tentacle' };
        return ok('');
      },
      [ceph('osd dump', true)]: () => ok(JSON.stringify(dump)),
    });
    const d = createCephCliDriver({ adminShell: async () => admin, hostShell: async () => admin });
    expect(await d.requireOsdRelease('20.2.4')).toEqual({ release: 'tentacle' });
    expect(admin.commands[0]).toBe(ceph('osd require-osd-release tentacle'));
  });

  it('a map that does not say the release afterwards fails, naming what it says', async () => {
    const admin = new ScriptedShell({
      [ceph('osd require-osd-release tentacle')]: ok(''),
      [ceph('osd dump', true)]: ok(JSON.stringify({ require_osd_release: 'reef' })),
    });
    const d = createCephCliDriver({ adminShell: async () => admin, hostShell: async () => admin });
    await expect(d.requireOsdRelease('tentacle')).rejects.toMatchObject({
      type: 'command_failed',
      retryable: false,
      message: expect.stringContaining('require_osd_release "reef"'),
    });
    await expect(d.requireOsdRelease('jewel')).rejects.toMatchObject({ type: 'command_failed' });
  });

  it('daemon metadata with the real Tentacle string (stable - RelWithDebInfo) maps to tentacle 20.2.4', () => {
    const text = JSON.stringify([
      {
        name: 'labnode1',
        hostname: 'labnode1',
        ceph_version:
          'ceph version 20.2.4 (7f793731f1b39eb4f465e960113d2363c311b964) tentacle (stable - RelWithDebInfo)',
      },
      {
        name: 'labnode2',
        hostname: 'labnode2',
        ceph_version: 'ceph version 18.2.7 (6b0e988052ec84cf2d4a54ff9bbbc5e720b621ad) reef (stable)',
      },
    ]);
    expect(parseDaemonMetadata('mgr', text)).toEqual([
      { type: 'mgr', id: 'labnode1', host: 'labnode1', version: '20.2.4', release: 'tentacle' },
      { type: 'mgr', id: 'labnode2', host: 'labnode2', version: '18.2.7', release: 'reef' },
    ]);
  });
});
