import { describe, expect, it } from 'vitest';
import { createCephCliDriver } from '../../drivers/real/ceph-cli';
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
