import { sql, type KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/database';
import {
  createSandboxCephCluster,
  createSandboxDriverSet,
  getSandboxCephState,
  readSandboxCephState,
  removeSandboxCephCluster,
  SandboxInputError,
  setMachineFaults,
  writeSandboxPoolData,
} from '../../drivers/sandbox';
import { derivePlacement } from '../../drivers/sandbox/sandbox-ceph-reweight';
import type { CephDriver } from '../../drivers/types';
import { newId } from '../../lib/ids';
import { createTestAccount, testDb } from '../helpers/db';
import { manualClock, rack } from './sandbox-helpers';

let db: Db;

beforeAll(() => {
  db = testDb();
});
afterAll(async () => {
  await db.destroy();
});

/**
 * A 4-host cluster, 2 OSDs per host, size 3 / min_size 2, at speed 1 on a hand-moved clock.
 * `racks` labels host i with racks[i] (and the failure domain becomes rack).
 */
async function cluster(options: { hosts?: number; speed?: number; racks?: string[] } = {}) {
  const accountId = await createTestAccount(db);
  const clock = manualClock();
  const speed = options.speed ?? 1;
  const machines: Awaited<ReturnType<typeof rack>>[] = [];
  for (let i = 0; i < (options.hosts ?? 4); i++)
    machines.push(await rack(db, accountId, speed, `ceph-${i}-${newId('node').slice(-6)}`, clock));
  const clusterId = newId('cluster');
  const state = await createSandboxCephCluster(
    db,
    {
      accountId,
      clusterId,
      hosts: machines.map((m) => ({
        hostname: m.input.hostname,
        ipmiAddress: m.input.ipmiAddress,
        osdDevices: m.machine.drives.slice(0, 2).map((d) => d.device),
        rack: options.racks?.[machines.indexOf(m)] ?? null,
      })),
      replication: 3,
      minSize: 2,
      cephVersion: 'reef',
      ...(options.racks ? { failureDomain: 'rack' as const } : {}),
    },
    speed,
    clock,
  );
  const drivers = createSandboxDriverSet(db, accountId, clock);
  const ceph: CephDriver = drivers.ceph({ clusterId, admin: machines[0]!.ssh });
  const host = (i: number) => machines[i]!.input.hostname;
  const osdsOf = (i: number) => state.osds.filter((o) => o.host === host(i)).map((o) => o.id);
  return { accountId, clusterId, clock, machines, drivers, ceph, state, host, osdsOf };
}

describe('sandbox Ceph: cluster creation', () => {
  it('assigns OSD ids host by host, CRUSH weights in TiB, mons on the first three hosts; healthy from the start', async () => {
    const c = await cluster();
    expect(c.state.osds.map((o) => [o.id, o.host])).toEqual([
      [0, c.host(0)],
      [1, c.host(0)],
      [2, c.host(1)],
      [3, c.host(1)],
      [4, c.host(2)],
      [5, c.host(2)],
      [6, c.host(3)],
      [7, c.host(3)],
    ]);
    const d0 = c.machines[0]!.machine.drives[0]!;
    expect(c.state.osds[0]!.crush_weight).toBeCloseTo((d0.size_gb * 1e9) / 2 ** 40, 4);
    expect(c.state.osds[0]!.device_class).toBe(d0.type);
    expect(c.state.mons).toEqual([c.host(0), c.host(1), c.host(2)]);

    const s = await c.ceph.status();
    expect(s).toEqual({
      health: 'HEALTH_OK',
      checks: [],
      osds_total: 8,
      osds_up: 8,
      osds_in: 8,
      pgs_total: c.state.pg_num,
      pgs_active_clean: c.state.pg_num,
      pgs_settled: c.state.pg_num,
      mgr_available: true,
      mons_in_quorum: [c.host(0), c.host(1), c.host(2)],
      mons_total: 3,
      flags: [],
      bytes_total: expect.any(Number),
      bytes_used: 0,
      bytes_avail: expect.any(Number),
    });
    const osds = await c.ceph.osds();
    expect(osds.every((o) => o.up && o.in && o.reweight === 1 && o.pgs > 0)).toBe(true);
    expect(osds.reduce((n, o) => n + o.pgs, 0)).toBeGreaterThanOrEqual(c.state.pg_num * 3 - 8);
  });

  it('is idempotent, refuses another account, unknown devices and too few hosts', async () => {
    const c = await cluster({ hosts: 3 });
    const again = await createSandboxCephCluster(db, {
      accountId: c.accountId,
      clusterId: c.clusterId,
      hosts: [],
      replication: 3,
      minSize: 2,
      cephVersion: 'squid',
    }).catch((e: unknown) => e);
    // Validation runs before the existence check: 0 hosts is refused outright.
    expect(again).toBeInstanceOf(SandboxInputError);
    const input = {
      accountId: c.accountId,
      clusterId: c.clusterId,
      hosts: c.machines.map((m) => ({
        hostname: m.input.hostname,
        ipmiAddress: m.input.ipmiAddress,
        osdDevices: [m.machine.drives[0]!.device],
      })),
      replication: 3,
      minSize: 2,
      cephVersion: 'squid',
    };
    expect(await createSandboxCephCluster(db, input)).toEqual(c.state);
    await expect(createSandboxCephCluster(db, { ...input, accountId: await createTestAccount(db) })).rejects.toThrow(
      /another account/,
    );
    await expect(
      createSandboxCephCluster(db, {
        ...input,
        clusterId: newId('cluster'),
        hosts: [{ ...input.hosts[0]!, osdDevices: ['sdzz'] }, ...input.hosts.slice(1)],
      }),
    ).rejects.toThrow(/no drive sdzz/);
    await expect(
      createSandboxCephCluster(db, { ...input, clusterId: newId('cluster'), hosts: input.hosts.slice(0, 2) }),
    ).rejects.toThrow(/at least 3 hosts/);
  });

  it('is private to its account and removable', async () => {
    const c = await cluster({ hosts: 3 });
    const stranger = createSandboxDriverSet(db, await createTestAccount(db)).ceph({
      clusterId: c.clusterId,
      admin: c.machines[0]!.ssh,
    });
    await expect(stranger.status()).rejects.toMatchObject({
      type: expect.stringMatching(/ssh_unreachable|ceph_unavailable/),
    });
    expect(await removeSandboxCephCluster(db, c.clusterId)).toBe(true);
    expect(await getSandboxCephState(db, c.clusterId)).toBeNull();
    await expect(c.ceph.status()).rejects.toMatchObject({ type: 'ceph_unavailable', retryable: false });
  });
});

describe('sandbox Ceph: ok-to-stop', () => {
  it('allows stopping one host of a size 3 / min_size 2 pool, not two, and not one more while a host is down', async () => {
    const c = await cluster();
    expect(await c.ceph.okToStop(c.osdsOf(1))).toEqual({ ok: true, reason: null });
    const two = await c.ceph.okToStop([...c.osdsOf(1), ...c.osdsOf(2)]);
    expect(two.ok).toBe(false);
    expect(two.reason).toMatch(/^unsafe to stop osd\(s\) at this time \(\d+ PGs are or would become offline\)$/);
    expect(await c.ceph.okToStop([])).toEqual({ ok: true, reason: null });

    await c.drivers.power.off(c.machines[3]!.bmc);
    expect((await c.ceph.okToStop(c.osdsOf(1))).ok).toBe(false);
    // The host that is already down may be "stopped" again: nothing more goes down.
    expect((await c.ceph.okToStop(c.osdsOf(3))).ok).toBe(true);
    await expect(c.ceph.okToStop([99])).rejects.toMatchObject({
      type: 'command_failed',
      message: expect.stringContaining('osd.99'),
    });
  });
});

describe('sandbox Ceph: placement by failure domain', () => {
  const racks = ['r1', 'r1', 'r2', 'r2', 'r3', 'r3'];
  const pgStates = async (ceph: CephDriver) =>
    Object.fromEntries((await ceph.pgPlacement([])).states.map((p) => [p.state, p.count]));

  it('rack failure domain: every PG has its 3 copies in 3 distinct racks (host failure domain: only distinct hosts)', async () => {
    const c = await cluster({ hosts: 6, racks });
    const state = (await getSandboxCephState(db, c.clusterId))!;
    expect(state.crush_rules).toContainEqual({ id: 1, name: 'nf-replicated-rack', failure_domain: 'rack' });
    const rackOf = (osd: number) =>
      state.hosts.find((h) => h.hostname === state.osds.find((o) => o.id === osd)!.host)!.rack;
    const { acting } = derivePlacement(state, () => true, c.clock.now());
    expect(acting).toHaveLength(state.pg_num);
    for (const set of acting) expect(new Set(set.map(rackOf)).size).toBe(3);

    // The same six hosts with the host failure domain: some PG has two copies in one rack.
    const h = await cluster({ hosts: 6 });
    const hs = (await getSandboxCephState(db, h.clusterId))!;
    const rackOfHost = (osd: number) =>
      racks[h.machines.findIndex((m) => m.input.hostname === hs.osds.find((o) => o.id === osd)!.host)];
    const hostActing = derivePlacement(hs, () => true, h.clock.now()).acting;
    for (const set of hostActing) expect(new Set(set.map((o) => hs.osds.find((x) => x.id === o)!.host)).size).toBe(3);
    expect(hostActing.some((set) => new Set(set.map(rackOfHost)).size < 3)).toBe(true);
  });

  it('stopping both hosts of one rack keeps every PG active (degraded); ok-to-stop says yes for one rack, no for hosts in two racks', async () => {
    const c = await cluster({ hosts: 6, racks });
    const rack1 = [...c.osdsOf(0), ...c.osdsOf(1)];
    expect(await c.ceph.okToStop(rack1)).toEqual({ ok: true, reason: null });
    const tworacks = await c.ceph.okToStop([...c.osdsOf(0), ...c.osdsOf(2)]);
    expect(tworacks.ok).toBe(false);
    expect(tworacks.reason).toMatch(/^unsafe to stop osd\(s\) at this time \(\d+ PGs are or would become offline\)$/);
    // One OSD in each of two racks: no PG needs to have both, but two racks would be down (pool tolerates 1).
    expect((await c.ceph.okToStop([c.osdsOf(0)[0]!, c.osdsOf(2)[0]!])).ok).toBe(false);

    // Rack r3 goes dark (hosts 4 and 5: no mon, not the admin node).
    const rack3 = [...c.osdsOf(4), ...c.osdsOf(5)];
    expect(await c.ceph.okToStop(rack3)).toEqual({ ok: true, reason: null });
    for (const i of [4, 5]) {
      await c.ceph.setGroupNoout(c.host(i));
      await c.drivers.power.off(c.machines[i]!.bmc);
    }
    const states = await pgStates(c.ceph);
    const total = (await c.ceph.status()).pgs_total;
    // Every PG had one copy in r3: all degraded, none inactive (peered).
    expect(states).toEqual({ 'active+undersized+degraded': total });
    // With r3 down, one host of r2 more is not ok; r3's own OSDs may be "stopped" again.
    expect((await c.ceph.okToStop(c.osdsOf(2))).ok).toBe(false);
    expect((await c.ceph.okToStop(rack3)).ok).toBe(true);
  });

  it('host failure domain on the same hosts: stopping the two hosts of rack r3 makes PGs inactive, and ok-to-stop says no', async () => {
    const c = await cluster({ hosts: 6 });
    expect((await c.ceph.okToStop([...c.osdsOf(4), ...c.osdsOf(5)])).ok).toBe(false);
    for (const i of [4, 5]) {
      await c.ceph.setGroupNoout(c.host(i));
      await c.drivers.power.off(c.machines[i]!.bmc);
    }
    const states = await pgStates(c.ceph);
    expect(states['undersized+degraded+peered']).toBeGreaterThan(0);
    expect(states['active+undersized+degraded']).toBeGreaterThan(0);
  });

  it('a pool keeps its own rule: a host-rule pool on a rack cluster is not rack-safe', async () => {
    const c = await cluster({ hosts: 6, racks });
    await c.ceph.createPool({
      name: 'by-host',
      type: 'replicated',
      pg_num: 64,
      crush_rule: 'replicated_rule',
      erasure_profile: null,
    });
    // Pools created without a rule get the default (rack) rule.
    await c.ceph.createPool({
      name: 'by-default',
      type: 'replicated',
      pg_num: 32,
      crush_rule: null,
      erasure_profile: null,
    });
    const pools = await c.ceph.pools();
    expect(pools.find((p) => p.name === 'by-default')!.crush_rule_id).toBe(1);
    expect(pools.find((p) => p.name === 'by-host')!.crush_rule_id).toBe(0);
    const okRack = await c.ceph.okToStop([...c.osdsOf(0), ...c.osdsOf(1)]);
    expect(okRack.ok).toBe(false);
    expect(okRack.reason).toMatch(/PGs are or would become offline|span 2 hosts/);
  });

  it('refuses a rack failure domain with unlabelled hosts or fewer racks than the replication', async () => {
    await expect(cluster({ hosts: 3, racks: ['r1', 'r2'] })).rejects.toThrow(/without a rack/);
    await expect(cluster({ hosts: 4, racks: ['r1', 'r1', 'r2', 'r2'] })).rejects.toThrow(
      /needs at least 3 racks, got 2/,
    );
  });
});

describe('sandbox Ceph: noout', () => {
  it('sets and unsets per-host noout, reads it back, and reports it as a flag and HEALTH_WARN', async () => {
    const c = await cluster({ hosts: 3 });
    await c.ceph.setGroupNoout(c.host(2));
    await c.ceph.setGroupNoout(c.host(0));
    await c.ceph.setGroupNoout(c.host(2));
    expect(await c.ceph.nooutHosts()).toEqual([c.host(0), c.host(2)].sort());
    const s = await c.ceph.status();
    expect(s.flags).toEqual(['noout']);
    expect(s.health).toBe('HEALTH_WARN');
    await c.ceph.unsetGroupNoout(c.host(0));
    await c.ceph.unsetGroupNoout(c.host(0));
    await c.ceph.unsetGroupNoout(c.host(2));
    expect(await c.ceph.nooutHosts()).toEqual([]);
    expect((await c.ceph.status()).health).toBe('HEALTH_OK');
    await expect(c.ceph.setGroupNoout('no-such-host')).rejects.toMatchObject({
      type: 'command_failed',
      retryable: false,
    });
    // Persisted, not in memory: a fresh driver (another worker) sees the same flags.
    await c.ceph.setGroupNoout(c.host(1));
    const other = createSandboxDriverSet(db, c.accountId).ceph({ clusterId: c.clusterId, admin: c.machines[1]!.ssh });
    expect(await other.nooutHosts()).toEqual([c.host(1)]);
  });
});

describe('sandbox Ceph: reads of an unchanged document (issue 14)', () => {
  /** The driver's database, counting the rows that came back carrying the whole stored document. */
  function countingDb() {
    const counter = { documents: 0, machineRows: 0 };
    const plugin: KyselyPlugin = {
      transformQuery: (args) => args.node,
      transformResult: async ({ result }) => {
        // sandbox_ceph's document, as jsonb or as text; no other table the driver reads has a `state`.
        for (const row of result.rows as Record<string, unknown>[]) {
          if (row.state != null) counter.documents += 1;
          if ('power_state' in row) counter.machineRows += 1;
        }
        return result;
      },
    };
    return { db: db.withPlugin(plugin), counter };
  }

  it('transfers the document once while it is unchanged, and sees every write, by any connection, at the next call', async () => {
    const c = await cluster({ hosts: 3 });
    const counted = countingDb();
    const ceph = createSandboxDriverSet(counted.db, c.accountId, c.clock).ceph({
      clusterId: c.clusterId,
      admin: c.machines[0]!.ssh,
    });
    const first = await ceph.status();
    expect(first.health).toBe('HEALTH_OK');
    for (let i = 0; i < 5; i++) expect(await ceph.status()).toEqual(first);
    expect(await ceph.nooutHosts()).toEqual([]);
    expect((await ceph.osds()).every((o) => o.up)).toBe(true);
    // 8 reads, one document: the rest asked only whether it was still the same revision.
    expect(counted.counter.documents).toBe(1);
    // The admin node's row on each call (8), the 3 hosts' rows once: then only their digest.
    expect(counted.counter.machineRows).toBe(8 + 3);

    // Another writer (its own pool, plain SQL, knowing nothing of any cache): seen at once.
    const other = testDb(1);
    try {
      await sql`UPDATE sandbox_ceph SET state = jsonb_set(state, '{noout_hosts}', ${JSON.stringify([c.host(1)])}::jsonb)
        WHERE cluster_id = ${c.clusterId}`.execute(other);
      expect(await ceph.nooutHosts()).toEqual([c.host(1)]);
      expect((await ceph.status()).flags).toEqual(['noout']);
      expect(counted.counter.documents).toBe(2);
      // The driver's own writes too (mutate reads under a row lock, never the kept copy).
      await ceph.stopOsds(c.host(2), c.osdsOf(2));
      expect((await ceph.osds()).filter((o) => !o.up).map((o) => o.id)).toEqual(c.osdsOf(2));
      // The write's locked read found the kept revision (no document); the read after it, the new one.
      expect(counted.counter.documents).toBe(3);

      // Removed and made again under the same id (other hosts): the new cluster, never the kept one.
      expect(await removeSandboxCephCluster(other, c.clusterId)).toBe(true);
      await expect(ceph.status()).rejects.toMatchObject({ type: 'ceph_unavailable', retryable: false });
      await createSandboxCephCluster(
        other,
        {
          accountId: c.accountId,
          clusterId: c.clusterId,
          hosts: [0, 1, 2].map((i) => ({
            hostname: c.host(i),
            ipmiAddress: c.machines[i]!.input.ipmiAddress,
            osdDevices: c.machines[i]!.machine.drives.slice(0, 1).map((d) => d.device),
          })),
          replication: 3,
          minSize: 2,
          cephVersion: 'reef',
        },
        1,
        c.clock,
      );
      const again = await ceph.osds();
      expect(again.map((o) => o.id)).toEqual([0, 1, 2]);
      expect(again.every((o) => o.up)).toBe(true);
      expect(await ceph.nooutHosts()).toEqual([]);
    } finally {
      await other.destroy();
    }
  });

  it('the kept document cannot be changed by a caller: it is frozen, and a fresh read equals the stored one', async () => {
    const c = await cluster({ hosts: 3 });
    const hosts = await c.ceph.nooutHosts();
    hosts.push('not-a-host');
    expect(await c.ceph.nooutHosts()).toEqual([]);
    const stored = await getSandboxCephState(db, c.clusterId);
    const read = await readSandboxCephState(db, c.clusterId);
    expect(read).toEqual(stored);
    expect(Object.isFrozen(read!.osds[0])).toBe(true);
    expect(() => read!.noout_hosts.push('x')).toThrow(TypeError);
  });
});

describe('sandbox Ceph: used capacity (issue 11)', () => {
  it('nothing written uses 0 bytes; data written to a pool is stored size times over the OSDs of its PGs; an out OSD reports 0', async () => {
    const c = await cluster();
    const sizes = c.state.osds.map((o) => Math.round(o.crush_weight * 2 ** 40));
    const total = sizes.reduce((a, b) => a + b, 0);
    let s = await c.ceph.status();
    expect([s.bytes_total, s.bytes_used, s.bytes_avail]).toEqual([total, 0, total]);
    let osds = await c.ceph.osds();
    expect(osds.map((o) => [o.used_bytes, o.size_bytes])).toEqual(sizes.map((size) => [0, size]));

    // 300 GB written to the cluster's (size 3) pool: 900 GB raw, spread by PG count.
    await writeSandboxPoolData(db, c.clusterId, 300e9);
    s = await c.ceph.status();
    expect(s.bytes_total).toBe(total);
    expect(Math.abs(s.bytes_used! - 900e9)).toBeLessThanOrEqual(8);
    expect(s.bytes_avail).toBe(total - s.bytes_used!);
    osds = await c.ceph.osds();
    expect(osds.reduce((n, o) => n + o.used_bytes, 0)).toBe(s.bytes_used);
    const perPgCopy = 300e9 / c.state.pg_num;
    for (const o of osds) expect(Math.abs(o.used_bytes - o.pgs * perPgCopy)).toBeLessThanOrEqual(1);

    // Host 3's OSDs stopped without noout: out after the down-out interval, their data re-placed.
    await c.ceph.stopOsds(c.host(3), c.osdsOf(3));
    c.clock.advance(600_000);
    s = await c.ceph.status();
    osds = await c.ceph.osds();
    for (const id of c.osdsOf(3))
      expect(osds.find((o) => o.id === id)).toMatchObject({ in: false, used_bytes: 0, size_bytes: 0 });
    expect(s.bytes_total).toBe(total - c.osdsOf(3).reduce((n, id) => n + sizes[id]!, 0));
    expect(Math.abs(s.bytes_used! - 900e9)).toBeLessThanOrEqual(8);

    // Deleting brings usage down; it never goes below 0. An unknown pool is refused.
    await writeSandboxPoolData(db, c.clusterId, -1e15);
    expect((await c.ceph.status()).bytes_used).toBe(0);
    await expect(writeSandboxPoolData(db, c.clusterId, 1, 'no-such-pool')).rejects.toThrow(SandboxInputError);
  });
});

describe('sandbox Ceph: OSDs follow their host', () => {
  it('a powered-off host takes its OSDs down; they come up after the boot delay, PGs are clean only after recovery', async () => {
    const c = await cluster();
    const { power } = c.drivers;
    const bmc = c.machines[1]!.bmc;
    const ids = c.osdsOf(1);
    await c.ceph.setGroupNoout(c.host(1));
    await power.off(bmc);

    let osds = await c.ceph.osds();
    expect(osds.filter((o) => !o.up).map((o) => o.id)).toEqual(ids);
    let s = await c.ceph.status();
    expect(s.health).toBe('HEALTH_WARN');
    expect(s.osds_up).toBe(6);
    expect(s.osds_in).toBe(8);
    expect(s.pgs_active_clean).toBeLessThan(s.pgs_total);
    expect(s.mons_in_quorum).toEqual([c.host(0), c.host(2)]);

    await power.on(bmc);
    c.clock.advance(29_000);
    expect((await c.ceph.status()).osds_up).toBe(6);
    c.clock.advance(1_000);
    osds = await c.ceph.osds();
    expect(osds.every((o) => o.up)).toBe(true);
    s = await c.ceph.status();
    expect(s.osds_up).toBe(8);
    expect(s.mons_in_quorum).toHaveLength(3);
    expect(s.pgs_active_clean).toBeLessThan(s.pgs_total); // recovering
    c.clock.advance(2_500);
    const mid = await c.ceph.status();
    expect(mid.pgs_active_clean).toBeGreaterThan(s.pgs_active_clean);
    expect(mid.pgs_active_clean).toBeLessThan(mid.pgs_total);
    c.clock.advance(2_500);
    s = await c.ceph.status();
    expect(s.pgs_active_clean).toBe(s.pgs_total);
    expect(s.health).toBe('HEALTH_WARN'); // noout is still set
    await c.ceph.unsetGroupNoout(c.host(1));
    expect((await c.ceph.status()).health).toBe('HEALTH_OK');
  });

  it('stopped OSDs stay down until started or until the host boots again (systemd starts them)', async () => {
    const c = await cluster();
    const ids = c.osdsOf(2);
    await c.ceph.stopOsds(c.host(2), ids);
    c.clock.advance(60_000);
    expect((await c.ceph.osds()).filter((o) => !o.up).map((o) => o.id)).toEqual(ids);
    await c.ceph.startOsds(c.host(2), [ids[0]!]);
    expect((await c.ceph.osds()).filter((o) => !o.up).map((o) => o.id)).toEqual([ids[1]]);

    // Reboot: the still-stopped daemon comes back with the host.
    await c.drivers.power.off(c.machines[2]!.bmc);
    c.clock.advance(1_000);
    await c.drivers.power.on(c.machines[2]!.bmc);
    c.clock.advance(30_000);
    expect((await c.ceph.osds()).every((o) => o.up)).toBe(true);
    await expect(c.ceph.stopOsds(c.host(2), [0])).rejects.toMatchObject({
      type: 'command_failed',
      message: expect.stringContaining('ceph-osd@0'),
    });
  });

  it('starting daemons that run already restarts nothing: the cluster stays clean', async () => {
    const c = await cluster({ hosts: 3 });
    await c.ceph.startOsds(c.host(0), c.osdsOf(0));
    const s = await c.ceph.status();
    expect([s.health, s.pgs_active_clean]).toEqual(['HEALTH_OK', s.pgs_total]);
    // Whereas a real stop + start goes through recovery.
    await c.ceph.stopOsds(c.host(0), c.osdsOf(0));
    c.clock.advance(1_000);
    await c.ceph.startOsds(c.host(0), c.osdsOf(0));
    const after = await c.ceph.status();
    expect(after.osds_up).toBe(6);
    expect(after.pgs_active_clean).toBeLessThan(after.pgs_total);
  });

  it('systemctl needs the OSD host up: stop/start on a host that is off is unreachable (retryable)', async () => {
    const c = await cluster({ hosts: 3 });
    await c.drivers.power.off(c.machines[2]!.bmc);
    await expect(c.ceph.startOsds(c.host(2), c.osdsOf(2))).rejects.toMatchObject({
      type: 'ssh_unreachable',
      retryable: true,
    });
  });

  it('osds_stay_down: running daemons keep running; restarted ones, at boot or by systemctl, never come up', async () => {
    const c = await cluster();
    const ipmi = c.machines[3]!.input.ipmiAddress;
    await setMachineFaults(db, c.accountId, ipmi, ['osds_stay_down'], c.clock);
    c.clock.advance(1);
    expect((await c.ceph.status()).osds_up).toBe(8);
    await c.ceph.stopOsds(c.host(3), c.osdsOf(3));
    await c.ceph.startOsds(c.host(3), c.osdsOf(3));
    expect((await c.ceph.status()).osds_up).toBe(6);
    await c.drivers.power.off(c.machines[3]!.bmc);
    await c.drivers.power.on(c.machines[3]!.bmc);
    c.clock.advance(3_600_000);
    const s = await c.ceph.status();
    expect(s.osds_up).toBe(6);
    expect(s.health).toBe('HEALTH_WARN');
    await setMachineFaults(db, c.accountId, ipmi, [], c.clock);
    await c.ceph.startOsds(c.host(3), c.osdsOf(3));
    expect((await c.ceph.status()).osds_up).toBe(8);
  });

  it('a down OSD without noout is marked out after the down-out interval; with noout it stays in', async () => {
    const c = await cluster();
    // Hosts 0-2 carry the mons: take down 2 (a mon, no noout) and 3 (noout), keeping quorum.
    await c.ceph.setGroupNoout(c.host(3));
    await c.drivers.power.off(c.machines[3]!.bmc);
    await c.drivers.power.off(c.machines[2]!.bmc);
    c.clock.advance(599_000);
    expect((await c.ceph.status()).osds_in).toBe(8);
    c.clock.advance(1_000);
    const osds = await c.ceph.osds();
    expect(osds.filter((o) => !o.in).map((o) => o.id)).toEqual(c.osdsOf(2));
    expect(osds.filter((o) => !o.in).every((o) => o.reweight === 0 && o.pgs === 0)).toBe(true);
    expect((await c.ceph.status()).osds_in).toBe(6);
  });

  it('without mon quorum the CLI cannot reach the cluster (retryable); without the admin node neither', async () => {
    const c = await cluster();
    await c.drivers.power.off(c.machines[1]!.bmc);
    await c.drivers.power.off(c.machines[2]!.bmc);
    await expect(c.ceph.status()).rejects.toMatchObject({ type: 'ceph_unavailable', retryable: true });
    await expect(c.ceph.nooutHosts()).rejects.toMatchObject({ type: 'ceph_unavailable', retryable: true });
    await c.drivers.power.on(c.machines[1]!.bmc);
    c.clock.advance(30_000);
    expect((await c.ceph.status()).mons_in_quorum).toHaveLength(2);
    await c.drivers.power.off(c.machines[0]!.bmc);
    await expect(c.ceph.status()).rejects.toMatchObject({ type: 'ssh_unreachable', retryable: true });
  });

  it('at speed 0 a reboot is instant and PGs are clean as soon as the OSDs are up', async () => {
    const c = await cluster({ hosts: 3, speed: 0 });
    await c.drivers.power.soft(c.machines[1]!.bmc);
    expect(await c.drivers.power.status(c.machines[1]!.bmc)).toBe('off');
    expect((await c.ceph.status()).osds_up).toBe(4);
    await c.drivers.power.on(c.machines[1]!.bmc);
    const s = await c.ceph.status();
    expect([s.osds_up, s.pgs_active_clean, s.health]).toEqual([6, s.pgs_total, 'HEALTH_OK']);
  });
});

describe('sandbox Ceph: purging OSDs and removing a host (issue 13 #4)', () => {
  it('purge needs the daemon down and is idempotent; a host bucket with OSDs cannot leave CRUSH, an empty one can', async () => {
    const c = await cluster({ speed: 0 });
    const ids = c.osdsOf(3);
    await expect(c.ceph.purgeOsd(ids[0]!)).rejects.toMatchObject({
      type: 'command_failed',
      message: expect.stringContaining('EBUSY'),
    });
    await expect(c.ceph.removeCrushHost(c.host(3))).rejects.toMatchObject({
      message: expect.stringContaining('ENOTEMPTY'),
    });
    await c.ceph.stopOsds(c.host(3), ids);
    for (const id of ids) await c.ceph.purgeOsd(id);
    await c.ceph.purgeOsd(ids[0]!);
    expect((await c.ceph.osds()).map((o) => o.id)).not.toContain(ids[0]);
    await c.ceph.removeCrushHost(c.host(3));
    await c.ceph.removeCrushHost(c.host(3));
    expect(await c.ceph.hosts()).not.toContain(c.host(3));
    const s = (await getSandboxCephState(db, c.clusterId))!;
    expect(s.osds).toHaveLength(6);
  });
});

describe('sandbox Ceph: Tentacle health checks and require-osd-release (issue 10)', () => {
  const spec = { mode: 'upgrade' as const, version: 'tentacle', osPackages: false };
  const errs = async (ceph: CephDriver) =>
    (await ceph.status()).checks.filter((x) => x.severity === 'HEALTH_ERR').map((x) => x.code);

  it('raises AUTH_INSECURE_* (HEALTH_ERR) from the first tentacle daemon of a reef cluster, OSD_UPGRADE_FINISHED until require-osd-release, like the real one', async () => {
    const c = await cluster({ speed: 0 });
    expect((await c.ceph.status()).checks).toEqual([]);
    expect(await c.ceph.redeployDaemon('mgr', c.host(1), spec)).toEqual({ done: true });
    const mixed = await c.ceph.status();
    expect(mixed.health).toBe('HEALTH_ERR');
    expect(await errs(c.ceph)).toEqual(['AUTH_INSECURE_SERVICE_KEY_TYPE', 'AUTH_INSECURE_SERVICE_TICKETS']);
    expect(mixed.checks.map((x) => x.code)).not.toContain('OSD_UPGRADE_FINISHED');
    // Ceph refuses while an up OSD runs an older release.
    await expect(c.ceph.requireOsdRelease('tentacle')).rejects.toMatchObject({
      type: 'command_failed',
      message: expect.stringContaining('Error EPERM: not all up OSDs have CEPH_FEATURE_SERVER_TENTACLE feature'),
    });
    for (let i = 0; i < 4; i++) {
      await c.ceph.stopHostOsds(c.host(i), c.osdsOf(i));
      expect((await c.ceph.upgradeHost(c.host(i), spec)).done).toBe(true);
      await c.ceph.startHostOsds(c.host(i), c.osdsOf(i));
    }
    expect((await c.ceph.status()).checks.find((x) => x.code === 'OSD_UPGRADE_FINISHED')).toEqual({
      code: 'OSD_UPGRADE_FINISHED',
      severity: 'HEALTH_WARN',
      summary: 'all OSDs are running tentacle or later but require_osd_release < tentacle',
    });
    expect(await c.ceph.requireOsdRelease('tentacle')).toEqual({ release: 'tentacle' });
    const after = await c.ceph.status();
    expect(after.checks.map((x) => x.code)).not.toContain('OSD_UPGRADE_FINISHED');
    // The keys are still the old type: AUTH_INSECURE_* stays (the upgrade does not rotate).
    expect(await errs(c.ceph)).toEqual(['AUTH_INSECURE_SERVICE_KEY_TYPE', 'AUTH_INSECURE_SERVICE_TICKETS']);
    await expect(c.ceph.requireOsdRelease('squid')).rejects.toMatchObject({
      message: expect.stringContaining('require_osd_release cannot be lowered'),
    });
  });
});
