import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * `ceph … -f json` answers of a Pawsey-size cluster (issue 14): 5,000 OSDs on 210 hosts, ~164,000
 * PGs, at their REAL sizes. Every per-OSD / per-host / per-PG entry is a copy of an entry Ceph printed
 * (test/fixtures/ceph: Pacific 16.2.15 and Reef 18.2.7 / Tentacle 20.2.4 captures) with its ids, names
 * and addresses renumbered, so a read is as long as the real one at that size (give or take the digits
 * of larger ids). The answers are keyed by the command line the real CLI driver sends (without the
 * `ceph --connect-timeout N` prefix and `-f json` suffix), so a test peer can serve them and record
 * what was asked.
 */
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'ceph');
type Obj = Record<string, unknown>;
const fixture = (name: string): unknown => JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8'));
const first = (name: string, key?: string): Obj => {
  const doc = fixture(name) as Obj | Obj[];
  const list = key ? ((doc as Obj)[key] as Obj[]) : (doc as Obj[]);
  return list[0]!;
};
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export interface ScaleClusterOptions {
  osds: number;
  hosts: number;
  /** Hosts carrying `ceph osd set-group noout <host>`. */
  nooutHosts?: string[];
  /** Heartbeat peers per OSD in `pg dump osds` (each with back and front ping times). */
  hbPeers?: number;
}

export interface ScaleCluster {
  hosts: string[];
  /** OSD ids of each host. */
  osdsOf: Map<string, number[]>;
  /** stdout of each read, by its arguments joined with spaces (`osd tree`, `status`, …). */
  answers: Map<string, string>;
  /** Answers computed from the command (ok-to-stop of given ids, `tell osd.* flush_pg_stats`). */
  answer(args: string): string | undefined;
  /** The next `reads` answers to `pg dump osds` show the mgr one stats report behind every OSD. */
  staleStats(reads: number): void;
}

export const REEF = 'ceph version 18.2.7 (6b0e988052ec84cf2d4a54ff9bbbc5e720b621ad) reef (stable)';

export function hostName(i: number): string {
  return `pawsey-stor${String(i + 1).padStart(3, '0')}`;
}

export function scaleCluster(opts: ScaleClusterOptions): ScaleCluster {
  const { osds: nOsds, hosts: nHosts } = opts;
  const hbPeers = opts.hbPeers ?? 10;
  const hosts = Array.from({ length: nHosts }, (_, i) => hostName(i));
  const osdsOf = new Map<string, number[]>(hosts.map((h) => [h, []]));
  const hostOf: string[] = [];
  for (let id = 0; id < nOsds; id++) {
    const h = hosts[id % nHosts]!;
    osdsOf.get(h)!.push(id);
    hostOf.push(h);
  }
  const addr = (id: number, port: number) => `10.${(id >> 8) & 255}.${id & 255}.${(id % 200) + 10}:${6800 + port}`;
  // Pools sized as a cluster of 5,000 OSDs is (≈100 PG replicas per OSD, size 3).
  const pgNums = [1, 32_768, 131_072].map((n) => Math.max(1, Math.round((n * nOsds) / 5_000)));
  const pgTotal = pgNums.reduce((a, b) => a + b, 0);
  const answers = new Map<string, string>();

  // ceph status: constant in size whatever the OSD count (counts, not lists).
  const status = fixture('status.json') as Obj;
  Object.assign(status.osdmap as Obj, { num_osds: nOsds, num_up_osds: nOsds, num_in_osds: nOsds, num_remapped_pgs: 0 });
  Object.assign(status.pgmap as Obj, {
    pgs_by_state: [{ state_name: 'active+clean', count: pgTotal }],
    num_pgs: pgTotal,
    num_pools: pgNums.length,
  });
  Object.assign(status.monmap as Obj, { num_mons: 5 });
  status.quorum = [0, 1, 2, 3, 4];
  status.quorum_names = hosts.slice(0, 5);
  answers.set('status', `\n${JSON.stringify(status)}\n`);

  // ceph health detail: the Reef/Tentacle capture's OSD_FLAGS check, one detail line per noout host
  // (computed per call: set-group / unset-group change it).
  const noout = new Set(opts.nooutHosts ?? []);
  const healthDetail = (): string => {
    const health = fixture('reef-tentacle-mixed.health_detail.json') as Obj;
    const checks = health.checks as Obj;
    const osdFlags = checks.OSD_FLAGS as Obj;
    for (const k of Object.keys(checks)) if (k !== 'OSD_FLAGS' && !k.startsWith('AUTH_INSECURE')) delete checks[k];
    if (noout.size) {
      (osdFlags.summary as Obj).count = noout.size;
      osdFlags.detail = [...noout].sort().map((h) => ({ message: `host ${h} has flags noout` }));
    } else delete checks.OSD_FLAGS;
    return `\n${JSON.stringify(health)}\n`;
  };

  // ceph osd tree: root, hosts, OSDs (entries from the Pacific capture).
  const tree = fixture('osd_tree.json') as { nodes: Obj[] };
  const [rootT, hostT, osdT] = [tree.nodes[0]!, tree.nodes[1]!, tree.nodes[2]!];
  const treeNodes: Obj[] = [{ ...clone(rootT), children: hosts.map((_, i) => -2 - i) }];
  hosts.forEach((h, i) => {
    treeNodes.push({ ...clone(hostT), id: -2 - i, name: h, children: osdsOf.get(h)! });
    for (const id of osdsOf.get(h)!) treeNodes.push({ ...clone(osdT), id, name: `osd.${id}`, crush_weight: 14.55199 });
  });
  answers.set('osd tree', `\n${JSON.stringify({ nodes: treeNodes, stray: [] })}\n`);

  // ceph osd df: one node per OSD (Reef capture), plus the summary.
  const df = fixture('osd_df_reef_osd2_down_out.json') as { nodes: Obj[]; summary: Obj };
  const dfT = df.nodes[0]!;
  const pgsPerOsd = Math.round((pgTotal * 3) / nOsds);
  answers.set(
    'osd df',
    `\n${JSON.stringify({
      nodes: hostOf.map((_, id) => ({
        ...clone(dfT),
        id,
        name: `osd.${id}`,
        crush_weight: 14.55199,
        kb: 15_625_000_000 / 1024,
        pgs: pgsPerOsd,
      })),
      stray: [],
      summary: df.summary,
    })}\n`,
  );

  // ceph osd metadata (Reef capture: ~1.9 KiB an OSD).
  const metaT = first('osd_metadata_reef_osd2_down.json');
  answers.set(
    'osd metadata',
    `\n${JSON.stringify(
      hostOf.map((h, id) => ({
        ...clone(metaT),
        id,
        hostname: h,
        ceph_version: REEF,
        ceph_version_short: '18.2.7',
        ceph_release: 'reef',
        back_addr: `[v2:${addr(id, 1)}/4251262189,v1:${addr(id, 2)}/4251262189]`,
        front_addr: `[v2:${addr(id, 3)}/4251262189,v1:${addr(id, 4)}/4251262189]`,
        osd_data: `/var/lib/ceph/osd/ceph-${id}`,
      })),
    )}\n`,
  );

  // mon / mgr metadata, mgr dump, versions: five mons, five mgrs, whatever the OSD count.
  const monT = first('mon_metadata.json');
  const daemons = () =>
    `\n${JSON.stringify(hosts.slice(0, 5).map((h) => ({ ...clone(monT), name: h, hostname: h, ceph_version: REEF, ceph_release: 'reef' })))}\n`;
  answers.set('mon metadata', daemons());
  answers.set('mgr metadata', daemons());
  const mgr = fixture('mgr_dump_one_standby.json') as Obj;
  mgr.active_name = hosts[0];
  mgr.standbys = hosts.slice(1, 5).map((h, i) => ({ ...clone((mgr.standbys as Obj[])[0]!), gid: 5000 + i, name: h }));
  answers.set('mgr dump', `\n${JSON.stringify(mgr)}\n`);
  answers.set(
    'versions',
    `\n${JSON.stringify({ mon: { [REEF]: 5 }, mgr: { [REEF]: 5 }, osd: { [REEF]: nOsds }, overall: { [REEF]: 10 + nOsds } })}\n`,
  );

  // ceph osd dump: every OSD with its addresses and xinfo, the pools (Pacific capture).
  const dump = fixture('osd_dump_noout_group.json') as Obj;
  const dOsd = (dump.osds as Obj[])[0]!;
  const dX = (dump.osd_xinfo as Obj[])[0]!;
  const dPool = (dump.pools as Obj[])[0]!;
  const addrvec = (id: number, p: number) => ({ addrvec: [{ type: 'v2', addr: addr(id, p), nonce: 23311 + id }] });
  Object.assign(dump, {
    max_osd: nOsds,
    require_osd_release: 'reef',
    osds: hostOf.map((_, id) => ({
      ...clone(dOsd),
      osd: id,
      public_addrs: addrvec(id, 1),
      cluster_addrs: addrvec(id, 2),
      heartbeat_back_addrs: addrvec(id, 3),
      heartbeat_front_addrs: addrvec(id, 4),
      public_addr: `${addr(id, 1)}/${23311 + id}`,
      cluster_addr: `${addr(id, 2)}/${23311 + id}`,
      heartbeat_back_addr: `${addr(id, 3)}/${23311 + id}`,
      heartbeat_front_addr: `${addr(id, 4)}/${23311 + id}`,
    })),
    osd_xinfo: hostOf.map((_, id) => ({ ...clone(dX), osd: id })),
    pools: pgNums.map((n, i) => ({
      ...clone(dPool),
      pool: i + 1,
      pool_name: ['.mgr', 'rbd', 'rgw.data'][i],
      size: 3,
      pg_num: n,
      pg_placement_num: n,
      pg_num_target: n,
      pg_placement_num_target: n,
    })),
    crush_node_flags: Object.fromEntries([...noout].map((h) => [h, ['noout']])),
  });
  answers.set('osd dump', `\n${JSON.stringify(dump)}\n`);

  // ceph pg dump pgs_brief: every PG, up = acting = 3 OSDs on three hosts.
  const pgStats: Obj[] = [];
  let k = 0;
  pgNums.forEach((n, p) => {
    for (let i = 0; i < n; i++, k++) {
      const set = [k % nOsds, (k + 1 + nHosts) % nOsds, (k + 2 + 2 * nHosts) % nOsds];
      pgStats.push({
        pgid: `${p + 1}.${i.toString(16)}`,
        state: 'active+clean',
        up: set,
        up_primary: set[0],
        acting: set,
        acting_primary: set[0],
      });
    }
  });
  answers.set('pg dump pgs_brief', `\n${JSON.stringify({ pg_ready: true, pg_stats: pgStats })}\n`);

  // ceph pg dump osds: the mgr's per-OSD stats (Pacific capture), hbPeers heartbeat peers each.
  const osdStats = fixture('pg_dump_osds.json') as { osd_stats: Obj[] };
  const sT = osdStats.osd_stats[0]!;
  const pingT = (sT.network_ping_times as Obj[])[0]!;
  const iface = ((pingT.interfaces as Obj[])[0] as Obj)!;
  const seq = (id: number) => 30064771094 + id;
  const pgDumpOsds = (behind: number) =>
    `\n${JSON.stringify({
      pg_ready: true,
      osd_stats: hostOf.map((_, id) => {
        const peers = Array.from({ length: hbPeers }, (_, j) => (id + 1 + j * 7) % nOsds);
        return {
          ...clone(sT),
          osd: id,
          seq: seq(id) - behind,
          num_pgs: pgsPerOsd,
          hb_peers: peers,
          network_ping_times: peers.map((p) => ({
            ...clone(pingT),
            osd: p,
            interfaces: [clone(iface), { ...clone(iface), interface: 'front' }],
          })),
        };
      }),
    })}\n`;
  answers.set('pg dump osds', pgDumpOsds(0));
  // The next `staleReads` dumps show the mgr one report behind what the OSDs just flushed.
  let staleReads = 0;
  let stale: string | undefined;

  const flush = hostOf.map((_, id) => `osd.${id}: ${seq(id)}`).join('\n') + '\n';
  const okT = fixture('ok_to_stop_osd0.json') as Obj;
  return {
    hosts,
    osdsOf,
    answers,
    staleStats(reads: number): void {
      staleReads = reads;
    },
    answer(args: string): string | undefined {
      if (args === 'tell osd.* flush_pg_stats') return flush;
      if (args === 'pg dump osds' && staleReads > 0) {
        staleReads -= 1;
        return (stale ??= pgDumpOsds(1));
      }
      if (args === 'health detail') return healthDetail();
      if (args === 'osd require-osd-release reef') return '';
      const group = /^osd (set|unset)-group noout (\S+)$/.exec(args);
      if (group) {
        if (group[1] === 'set') noout.add(group[2]!);
        else noout.delete(group[2]!);
        return '';
      }
      const ok = /^osd ok-to-stop ((?:\d+ ?)+)$/.exec(args);
      if (ok) {
        const ids = ok[1]!.trim().split(' ').map(Number);
        // The PGs that would become degraded: every PG with a copy on those OSDs.
        const degraded = pgStats.filter((pg) => (pg.up as number[]).some((o) => ids.includes(o))).map((pg) => pg.pgid);
        return `\n${JSON.stringify({ ...okT, osds: ids, num_ok_pgs: degraded.length, ok_become_degraded: degraded })}\n`;
      }
      return answers.get(args);
    },
  };
}
