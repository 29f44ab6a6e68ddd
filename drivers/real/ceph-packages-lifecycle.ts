/**
 * Cluster lifecycle of the package deployer (docs/clusters.md §Deployers, issue 10): Ceph from the
 * release's Debian packages, driven over SSH the way Proxmox VE and non-containerised ceph-ansible do,
 * in Debian's layout on every node:
 *
 * - /etc/ceph/ceph.conf (per host: the cluster's [global] with that host's public_addr),
 *   /etc/ceph/ceph.client.admin.keyring, /var/lib/ceph/bootstrap-osd/ceph.keyring;
 * - /var/lib/ceph/{mon,mgr,osd}/ceph-<id>; mon and mgr ids are the short hostnames;
 * - systemd units ceph-mon@<host>, ceph-mgr@<host>, ceph-osd@<N> (Debian's: `--setuser ceph`),
 *   enabled so that they start at boot;
 * - OSDs on whole block devices with `ceph-volume raw prepare/activate --no-tmpfs --no-systemd` (bluestore);
 * - the hosts of the cluster recorded inside it, config-key `nodefoundry/hosts`.
 *
 * Mons listen on msgr2 at the host's address, port 3300 (and v1 6789), or, with NF_CEPH_MON_PORT_BASE,
 * the i-th mon on base+i only (several mons on one address, as in the lab). Every step is idempotent
 * and read back by the activity calling it.
 */
import { randomUUID } from 'node:crypto';
import { FAILURE } from '../../lib/failures';
import { parseCephVersion } from '../../lib/ceph-releases';
import { shellQuote, tail } from '../driver-errors';
import { INVENTORY_COMMANDS } from '../host-inventory';
import {
  DriverError,
  type CephDaemons,
  type CephDevice,
  type CephHostSpec,
  type CephLifecycleOps,
  type ShellSession,
} from '../types';
import type { CephCliContext } from './ceph-cli-context';
import { createCephCliSharedLifecycleOps, parseFsid } from './ceph-cli-crush';
import { osdStateOf, parseJsonArray, parseJsonObject } from './ceph-json';
import { ALL_ROLES, ensureRelease } from './ceph-packages';

export const HOSTS_KEY = 'nodefoundry/hosts';
const CONF = '/etc/ceph/ceph.conf';
const ADMIN_KEYRING = '/etc/ceph/ceph.client.admin.keyring';
const BOOTSTRAP_OSD_KEYRING = '/var/lib/ceph/bootstrap-osd/ceph.keyring';
const QUORUM_WAIT_MS = 120_000;
const OSD_BOOT_WAIT_MS = 60_000;
const LONG_MS = 1_800_000;
const ENOENT = 2;

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

function bad(what: string, detail: string): DriverError {
  return new DriverError(FAILURE.commandFailed, `unexpected ${what} output: ${detail}`, false);
}

// ---- ceph.conf --------------------------------------------------------------------------------

/** A ceph.conf as sections of `key = value` lines, in order. */
export type CephConf = { section: string; entries: [string, string][] }[];

export function parseConf(text: string): CephConf {
  const conf: CephConf = [];
  let cur: CephConf[number] | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      cur = { section: sec[1]!, entries: [] };
      conf.push(cur);
      continue;
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (kv && cur) cur.entries.push([kv[1]!.trim().replace(/ /g, '_'), kv[2]!]);
  }
  return conf;
}

export function renderConf(conf: CephConf): string {
  return `# Written by NodeFoundry (package deployer): docs/clusters.md\n${conf
    .map((s) => `[${s.section}]\n${s.entries.map(([k, v]) => (v === '' ? `${k} =` : `${k} = ${v}`)).join('\n')}\n`)
    .join('\n')}`;
}

export function confGet(conf: CephConf, section: string, key: string): string | null {
  return conf.find((s) => s.section === section)?.entries.find(([k]) => k === key)?.[1] ?? null;
}

export function confSet(conf: CephConf, section: string, key: string, value: string | null): CephConf {
  const out = conf.map((s) => ({ section: s.section, entries: s.entries.map((e) => [...e] as [string, string]) }));
  let s = out.find((x) => x.section === section);
  if (!s) {
    if (value === null) return out;
    s = { section, entries: [] };
    out.push(s);
  }
  const i = s.entries.findIndex(([k]) => k === key);
  if (value === null) {
    if (i >= 0) s.entries.splice(i, 1);
  } else if (i >= 0) s.entries[i] = [key, value];
  else s.entries.push([key, value]);
  return out.filter((x) => x.entries.length > 0 || x.section === 'global');
}

/** The msgr address vector a mon listens on: `[v2:A:P]` with a port base, else Ceph's defaults. */
export function monAddrv(address: string, port: number | null): string {
  const a = address.includes(':') ? `[${address}]` : address;
  return port === null ? `[v2:${a}:3300,v1:${a}:6789]` : `[v2:${a}:${port}]`;
}

export interface NewClusterConf {
  fsid: string;
  monId: string;
  monAddrv: string;
  publicAddr: string;
  replication: number;
  bindPortRange: readonly [number, number] | null;
}

/** The ceph.conf a new cluster starts with (the admin node's copy). */
export function newClusterConf(c: NewClusterConf): CephConf {
  const global: [string, string][] = [
    ['fsid', c.fsid],
    ['mon_host', c.monAddrv],
    ['public_addr', c.publicAddr],
    ['auth_cluster_required', 'cephx'],
    ['auth_service_required', 'cephx'],
    ['auth_client_required', 'cephx'],
    ['osd_pool_default_size', String(c.replication)],
    ['osd_pool_default_min_size', String(c.replication - Math.floor(c.replication / 2))],
  ];
  if (c.bindPortRange) {
    global.push(['ms_bind_port_min', String(c.bindPortRange[0])], ['ms_bind_port_max', String(c.bindPortRange[1])]);
  }
  return [
    { section: 'global', entries: global },
    {
      section: 'mon',
      entries: [
        // cephadm sets this at bootstrap too: a new cluster has no pre-Pacific clients to keep.
        ['auth_allow_insecure_global_id_reclaim', 'false'],
        // restful (deprecated, unused by NodeFoundry) fails to load under Debian's PyO3 on Reef.
        ['mgr_initial_modules', 'iostat nfs'],
      ],
    },
    // Every CLI call would otherwise fight over one client.admin admin socket.
    { section: 'client', entries: [['admin_socket', '']] },
    { section: `mon.${c.monId}`, entries: [['public_addrv', c.monAddrv]] },
  ];
}

/** The same configuration as a given host must see it: its own public address. */
export function confForHost(conf: CephConf, address: string): string {
  return renderConf(confSet(conf, 'global', 'public_addr', address));
}

// ---- parsers ----------------------------------------------------------------------------------

export interface RecordedHost {
  hostname: string;
  address: string;
}

/** config-key `nodefoundry/hosts`: {"hosts": [{hostname, address}]}. */
export function parseHostsRecord(stdout: string): RecordedHost[] {
  const doc = parseJsonObject(`config-key get ${HOSTS_KEY}`, stdout);
  if (!Array.isArray(doc.hosts)) throw bad(`config-key get ${HOSTS_KEY}`, 'no hosts array');
  return doc.hosts
    .map(obj)
    .flatMap((h) =>
      typeof h.hostname === 'string' && typeof h.address === 'string'
        ? [{ hostname: h.hostname, address: h.address }]
        : [],
    );
}

export interface MonEntry {
  name: string;
  /** host:port of each address of the mon ("127.0.0.1:16700"). */
  addrs: string[];
}

/** `ceph quorum_status -f json`: the mons in quorum and the monmap's mons with their addresses. */
export function parseQuorumStatus(stdout: string): { quorum: string[]; mons: MonEntry[] } {
  const doc = parseJsonObject('quorum_status', stdout);
  if (!Array.isArray(doc.quorum_names)) throw bad('quorum_status', 'no quorum_names');
  const quorum = doc.quorum_names.filter((n): n is string => typeof n === 'string');
  const mons = (Array.isArray(obj(doc.monmap).mons) ? (obj(doc.monmap).mons as unknown[]) : [])
    .map(obj)
    .flatMap((m) => {
      if (typeof m.name !== 'string') return [];
      const vec = Array.isArray(obj(m.public_addrs).addrvec) ? (obj(m.public_addrs).addrvec as unknown[]).map(obj) : [];
      const addrs = vec.map((a) => a.addr).filter((a): a is string => typeof a === 'string');
      return [{ name: m.name, addrs }];
    });
  return { quorum, mons };
}

/** `ceph mgr dump -f json`: every mgr the map knows (active + standbys). */
export function parseMgrNames(stdout: string): string[] {
  const doc = parseJsonObject('mgr dump', stdout);
  const names = new Set<string>();
  if (doc.available === true && typeof doc.active_name === 'string' && doc.active_name) names.add(doc.active_name);
  for (const s of Array.isArray(doc.standbys) ? doc.standbys.map(obj) : [])
    if (typeof s.name === 'string') names.add(s.name);
  return [...names].sort();
}

/**
 * `ceph auth ls -f json`: the hosts with a `mgr.<host>` key. The package deployer creates the key
 * before it starts a mgr and removes it with the mgr, so the keys list the mgrs it runs even before
 * a new one's first beacon puts it in `ceph mgr dump`.
 */
export function parseMgrKeys(stdout: string): string[] {
  const doc = parseJsonObject('auth ls', stdout);
  if (!Array.isArray(doc.auth_dump)) throw bad('auth ls', 'no auth_dump');
  const names = new Set<string>();
  for (const e of doc.auth_dump.map(obj)) {
    const m = typeof e.entity === 'string' ? /^mgr\.(.+)$/.exec(e.entity) : null;
    if (m) names.add(m[1]!);
  }
  return [...names].sort();
}

export interface RawOsd {
  osd_id: number;
  osd_uuid: string;
  ceph_fsid: string;
  device: string;
}

/**
 * `ceph-volume raw list [dev] --format json`: `{"<osd uuid>": {"ceph_fsid", "device": "/dev/sdb",
 * "osd_id", "osd_uuid", "type": "bluestore"}}`. Lines before the JSON are skipped.
 */
export function parseRawList(stdout: string): RawOsd[] {
  const start = stdout.indexOf('{');
  if (start < 0) {
    if (stdout.trim() === '') return [];
    throw bad('ceph-volume raw list', 'not JSON');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(stdout.slice(start));
  } catch {
    throw bad('ceph-volume raw list', 'not JSON');
  }
  return Object.values(obj(doc))
    .map(obj)
    .flatMap((o) =>
      typeof o.osd_id === 'number' && typeof o.ceph_fsid === 'string' && typeof o.device === 'string'
        ? [
            {
              osd_id: o.osd_id,
              osd_uuid: typeof o.osd_uuid === 'string' ? o.osd_uuid : '',
              ceph_fsid: o.ceph_fsid,
              device: o.device.replace(/^\/dev\//, ''),
            },
          ]
        : [],
    );
}

/** Whole disks of a host as its inventory lists them (`lsblk -d`, type disk). */
export function hostDisks(stdout: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw bad('lsblk', 'not JSON');
  }
  const list = obj(doc).blockdevices;
  if (!Array.isArray(list)) throw bad('lsblk', 'no blockdevices array');
  return list
    .map(obj)
    .filter((d) => d.type === 'disk' && typeof d.name === 'string' && /^[A-Za-z0-9_-]+$/.test(d.name))
    .map((d) => d.name as string)
    .sort();
}

/**
 * The per-device check `devices` runs on a host: one line per device, `<dev> ok` or `<dev> <reason>`.
 * A device is refused with partitions, a filesystem or other signature (blkid), a Ceph bluestore
 * label, or when it is mounted: the boot disk always has one of those.
 */
export function deviceCheckScript(devices: string[]): string {
  return devices
    .map(
      (d) =>
        `d=/dev/${d}; r=; ` +
        `if [ ! -b $d ]; then r="not a block device"; ` +
        `elif [ "$(lsblk -n -o NAME $d 2>/dev/null | wc -l)" -gt 1 ]; then r="has partitions or holders"; ` +
        `elif [ "$(dd if=$d bs=22 count=1 2>/dev/null | tr -d '\\0')" = "bluestore block device" ]; then r="holds a Ceph OSD (bluestore label)"; ` +
        `elif t=$(blkid -p -o value -s TYPE $d 2>/dev/null) && [ -n "$t" ]; then r="has a $t signature"; ` +
        `elif t=$(blkid -p -o value -s PTTYPE $d 2>/dev/null) && [ -n "$t" ]; then r="has a $t partition table"; ` +
        `elif grep -q "^$d " /proc/mounts; then r="mounted"; fi; ` +
        `echo "${d} \${r:-ok}"`,
    )
    .join('\n');
}

export function parseDeviceCheck(host: string, stdout: string): CephDevice[] {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [device, ...rest] = l.split(' ');
      const reason = rest.join(' ');
      return {
        host,
        device: device!,
        available: reason === 'ok',
        rejected_reasons: reason === 'ok' ? [] : [reason],
      };
    });
}

/**
 * `ceph osd metadata -f json`: the OSD on `host` whose data device is `device`, by the kernel names
 * Ceph lists (`devices`) or the device node bluestore opened (`bluestore_bdev_dev_node`): the two
 * differ where a device node stands for another kernel device (the lab's /dev/sdb over loop7).
 */
export function osdOnHostDevice(stdout: string, host: string, device: string): number | null {
  for (const m of parseJsonArray('osd metadata', stdout)) {
    if (m.hostname !== host || typeof m.id !== 'number') continue;
    const devices = typeof m.devices === 'string' ? m.devices.split(',') : [];
    if (devices.includes(device) || m.bluestore_bdev_dev_node === `/dev/${device}`) return m.id;
  }
  return null;
}

/**
 * The host-side half of `destroyOsd` (package deployer): the old daemon stopped and disabled, its
 * data directory (a plain directory with --no-tmpfs, whose `block` link names the failed disk)
 * unmounted if mounted and removed, so the replacement's `raw activate` starts clean.
 */
export function retireOsdScript(osdId: number): string {
  const dir = `/var/lib/ceph/osd/ceph-${osdId}`;
  return [
    `systemctl stop ceph-osd@${osdId} || true`,
    `systemctl disable ceph-osd@${osdId} || true`,
    `if grep -q " ${dir} " /proc/mounts; then umount ${dir}; fi`,
    `rm -rf ${dir}`,
  ].join('\n');
}

/** The package deployer's host record (config-key `nodefoundry/hosts`); none yet is an empty list. */
export async function readHostsRecord(ctx: CephCliContext, s: ShellSession): Promise<RecordedHost[]> {
  const args = ['config-key', 'get', HOSTS_KEY];
  const res = await s.exec(ctx.cephCommand(args, false), ctx.execOptions(args));
  if (res.code === ENOENT) return [];
  if (res.code !== 0) throw ctx.cephFailure(args, res);
  return parseHostsRecord(res.stdout);
}

/**
 * A removed host leaves the package deployer's host record (idempotent). Every mon placement
 * writes the new ceph.conf to each recorded host: a host still recorded after its removal would be
 * reached for again, and it is no member any more (the lab's second removal of a mon host failed
 * at move_mons with "Cluster … has no node named labnode2").
 */
export async function forgetRecordedHost(ctx: CephCliContext, s: ShellSession, host: string): Promise<void> {
  const hosts = await readHostsRecord(ctx, s);
  if (!hosts.some((h) => h.hostname === host)) return;
  const rest = hosts.filter((h) => h.hostname !== host);
  await ctx.ceph(s, ['config-key', 'set', HOSTS_KEY, JSON.stringify({ hosts: rest })], false);
}

// ---- the operations ---------------------------------------------------------------------------

export function createCephPackagesLifecycleOps(ctx: CephCliContext): CephLifecycleOps {
  const { options, ceph, withSession, checkName, sudo, timeoutMs } = ctx;
  const admin = options.adminShell;
  const pkg = options.packages ?? { aptSources: {}, monPortBase: null, bindPortRange: null };
  const onHost = <T>(host: string, fn: (s: ShellSession) => Promise<T>): Promise<T> => {
    checkName(host);
    return withSession(() => options.hostShell(host), fn);
  };
  const sh = (s: ShellSession, script: string, timeout = timeoutMs) =>
    s.run(`${sudo}sh -c ${shellQuote(`set -e\n${script}`)}`, { timeoutMs: timeout });

  function checkDevice(device: string): void {
    if (!/^[A-Za-z0-9_-]+$/.test(device))
      throw new DriverError(FAILURE.commandFailed, `invalid device name ${JSON.stringify(device)}`, false);
  }
  function checkOsdId(id: number): void {
    if (!Number.isInteger(id) || id < 0)
      throw new DriverError(FAILURE.commandFailed, `invalid OSD id ${JSON.stringify(id)}`, false);
  }
  function checkFsid(fsid: string): void {
    if (!/^[0-9a-f-]{36}$/.test(fsid))
      throw new DriverError(FAILURE.commandFailed, `invalid fsid ${JSON.stringify(fsid)}`, false);
  }
  function checkAddress(address: string): void {
    if (!/^[0-9A-Fa-f.:]+$/.test(address))
      throw new DriverError(FAILURE.commandFailed, `invalid address ${JSON.stringify(address)}`, false);
  }

  /** Writes a file atomically (base64 through the command line: keyrings and configs are small). */
  function writeFile(path: string, content: string, mode: string, owner?: string): string {
    const b64 = Buffer.from(content).toString('base64');
    return (
      `mkdir -p $(dirname ${path}); umask 077; echo ${b64} | base64 -d > ${path}.nf-tmp; ` +
      `chmod ${mode} ${path}.nf-tmp; ${owner ? `chown ${owner} ${path}.nf-tmp; ` : ''}mv ${path}.nf-tmp ${path}`
    );
  }

  async function readFileB64(s: ShellSession, path: string): Promise<string | null> {
    const res = await s.exec(`${sudo}base64 -w0 ${path}`, { timeoutMs });
    return res.code === 0 ? Buffer.from(res.stdout.trim(), 'base64').toString('utf8') : null;
  }

  const readHosts = (s: ShellSession) => readHostsRecord(ctx, s);

  async function recordHost(s: ShellSession, host: RecordedHost): Promise<void> {
    const hosts = (await readHosts(s)).filter((h) => h.hostname !== host.hostname);
    hosts.push(host);
    hosts.sort((a, b) => a.hostname.localeCompare(b.hostname));
    await ceph(s, ['config-key', 'set', HOSTS_KEY, JSON.stringify({ hosts })], false);
  }

  async function quorum(s: ShellSession) {
    return parseQuorumStatus(await ceph(s, ['quorum_status']));
  }

  /** Polls until `ok` holds, bounded; a cluster not answering yet counts as "not yet". */
  async function waitFor(what: string, boundMs: number, ok: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + boundMs;
    let last = '';
    for (;;) {
      try {
        if (await ok()) return;
      } catch (err) {
        if (!(err instanceof DriverError) || !err.retryable) throw err;
        last = `: ${err.message}`;
      }
      if (Date.now() >= deadline)
        throw new DriverError(
          FAILURE.cephUnavailable,
          `timed out after ${boundMs / 1000} s waiting for ${what}${last}`,
          true,
        );
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** The cluster's release, as the admin node's CLI reports it (hosts join with the same packages). */
  async function clusterRelease(s: ShellSession): Promise<string> {
    const v = parseCephVersion(await s.run('ceph --version', { timeoutMs }));
    if (!v) throw bad('ceph --version', 'no Ceph version');
    return v.version ?? v.release;
  }

  async function adminConf(s: ShellSession): Promise<CephConf> {
    const text = await readFileB64(s, CONF);
    if (text === null) throw new DriverError(FAILURE.commandFailed, `${CONF} is missing on the admin node`, false);
    return parseConf(text);
  }

  /** Writes the admin's configuration (with each host's public_addr) to every recorded host. */
  async function distributeConf(conf: CephConf, hosts: RecordedHost[]): Promise<void> {
    for (const h of hosts) await onHost(h.hostname, (s) => sh(s, writeFile(CONF, confForHost(conf, h.address), '644')));
  }

  const mgrCaps = ['mon', 'allow profile mgr', 'osd', 'allow *', 'mds', 'allow *'];

  async function ensureMgr(host: string): Promise<void> {
    const keyring = await withSession(admin, (s) =>
      ceph(s, ['auth', 'get-or-create', `mgr.${host}`, ...mgrCaps], false),
    );
    if (!keyring.includes('key =')) throw bad(`auth get-or-create mgr.${host}`, 'no key');
    const dir = `/var/lib/ceph/mgr/ceph-${host}`;
    await onHost(host, (s) =>
      sh(
        s,
        `mkdir -p ${dir}\n${writeFile(`${dir}/keyring`, keyring, '600')}\nchown -R ceph:ceph ${dir}\n` +
          `systemctl enable ceph-mgr@${host}\nsystemctl start ceph-mgr@${host}`,
      ),
    );
  }

  async function removeMgr(host: string): Promise<void> {
    await onHost(host, (s) =>
      sh(
        s,
        `systemctl stop ceph-mgr@${host}\nsystemctl disable ceph-mgr@${host}\nrm -rf /var/lib/ceph/mgr/ceph-${host}`,
      ),
    );
    await withSession(admin, (s) => ceph(s, ['auth', 'rm', `mgr.${host}`], false));
  }

  /** Adds a mon the Debian manual way: the monmap and mon. key from the cluster, mkfs, start; waits for quorum. */
  async function addMon(host: RecordedHost, port: number | null): Promise<void> {
    const id = host.hostname;
    const { conf, monmap, keyring } = await withSession(admin, async (s) => {
      const tmp = (await s.run(`${sudo}mktemp -d`, { timeoutMs })).trim();
      try {
        await ceph(s, ['mon', 'getmap', '-o', `${tmp}/monmap`], false);
        await ceph(s, ['auth', 'get', 'mon.', '-o', `${tmp}/keyring`], false);
        const monmap = (await s.run(`${sudo}base64 -w0 ${tmp}/monmap`, { timeoutMs })).trim();
        const keyring = await readFileB64(s, `${tmp}/keyring`);
        if (!keyring) throw bad('auth get mon.', 'no keyring written');
        return { conf: await adminConf(s), monmap, keyring };
      } finally {
        await s.exec(`${sudo}rm -rf ${tmp}`, { timeoutMs });
      }
    });
    const addrv = monAddrv(host.address, port);
    const next = confSet(
      confSet(conf, `mon.${id}`, 'public_addrv', addrv),
      'global',
      'mon_host',
      [...(confGet(conf, 'global', 'mon_host') ?? '').split(/,(?=\[)/).filter((a) => a && a !== addrv), addrv].join(
        ',',
      ),
    );
    const dir = `/var/lib/ceph/mon/ceph-${id}`;
    await onHost(id, (s) =>
      sh(
        s,
        [
          writeFile(CONF, confForHost(next, host.address), '644'),
          `if [ ! -f ${dir}/keyring ]; then`,
          `  t=$(mktemp -d); echo ${monmap} | base64 -d > $t/monmap`,
          `  ${writeFile('$t/keyring', keyring, '600')}`,
          `  chown -R ceph:ceph $t; rm -rf ${dir}; mkdir -p ${dir}; chown ceph:ceph ${dir}`,
          `  ceph-mon --cluster ceph --mkfs -i ${id} --monmap $t/monmap --keyring $t/keyring --setuser ceph --setgroup ceph`,
          `  rm -rf $t`,
          'fi',
          `chown -R ceph:ceph ${dir}`,
          `systemctl enable ceph-mon@${id}`,
          `systemctl start ceph-mon@${id}`,
        ].join('\n'),
      ),
    );
    await withSession(admin, (s) =>
      sh(s, writeFile(CONF, confForHost(next, confGet(conf, 'global', 'public_addr') ?? host.address), '644')),
    );
    await waitFor(`mon ${id} to join the quorum`, QUORUM_WAIT_MS, () =>
      withSession(admin, async (s) => (await quorum(s)).quorum.includes(id)),
    );
  }

  async function removeMon(id: string): Promise<void> {
    await withSession(admin, (s) => ceph(s, ['mon', 'remove', id], false));
    await onHost(id, (s) =>
      sh(s, `systemctl stop ceph-mon@${id}\nsystemctl disable ceph-mon@${id}\nrm -rf /var/lib/ceph/mon/ceph-${id}`),
    );
  }

  const shared = createCephCliSharedLifecycleOps(ctx);
  return {
    ...shared,

    async bootstrap(input): Promise<{ fsid: string }> {
      checkName(input.host);
      checkAddress(input.address);
      const id = input.host;
      return withSession(admin, async (s) => {
        // Idempotent: a node that already runs this cluster answers `ceph fsid`.
        const existing = await s.exec(ctx.cephCommand(['fsid'], true), { timeoutMs });
        if (existing.code === 0) {
          await recordHost(s, { hostname: id, address: input.address });
          return { fsid: parseFsid(existing.stdout) };
        }
        await ensureRelease(s, {
          host: id,
          target: input.cephVersion,
          roles: ALL_ROLES,
          aptSources: pkg.aptSources,
          mode: 'install',
          sudo,
          timeoutMs,
        });
        // A bootstrap that stopped halfway left its ceph.conf: the same fsid is used again.
        const before = await readFileB64(s, CONF);
        const fsid = (before && confGet(parseConf(before), 'global', 'fsid')) || randomUUID();
        checkFsid(fsid);
        const addrv = monAddrv(input.address, pkg.monPortBase);
        const conf = newClusterConf({
          fsid,
          monId: id,
          monAddrv: addrv,
          publicAddr: input.address,
          replication: input.replication,
          bindPortRange: pkg.bindPortRange,
        });
        const dir = `/var/lib/ceph/mon/ceph-${id}`;
        const adminCaps = `--cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *'`;
        await sh(
          s,
          [
            writeFile(CONF, renderConf(conf), '644'),
            `[ -f ${ADMIN_KEYRING} ] || ceph-authtool --create-keyring ${ADMIN_KEYRING} --gen-key -n client.admin ${adminCaps}`,
            `chmod 600 ${ADMIN_KEYRING}`,
            'mkdir -p /var/lib/ceph/bootstrap-osd',
            `[ -f ${BOOTSTRAP_OSD_KEYRING} ] || ceph-authtool --create-keyring ${BOOTSTRAP_OSD_KEYRING} --gen-key -n client.bootstrap-osd --cap mon 'profile bootstrap-osd' --cap mgr 'allow r'`,
            `if [ ! -f ${dir}/keyring ]; then`,
            '  t=$(mktemp -d)',
            `  ceph-authtool --create-keyring $t/keyring --gen-key -n mon. --cap mon 'allow *'`,
            `  ceph-authtool $t/keyring --import-keyring ${ADMIN_KEYRING}`,
            `  ceph-authtool $t/keyring --import-keyring ${BOOTSTRAP_OSD_KEYRING}`,
            `  monmaptool --create --clobber --addv ${id} '${addrv}' --fsid ${fsid} $t/monmap`,
            `  chown -R ceph:ceph $t; rm -rf ${dir}; mkdir -p ${dir}; chown ceph:ceph ${dir}`,
            `  ceph-mon --cluster ceph --mkfs -i ${id} --monmap $t/monmap --keyring $t/keyring --setuser ceph --setgroup ceph`,
            '  rm -rf $t',
            'fi',
            `chown -R ceph:ceph ${dir} /var/lib/ceph/bootstrap-osd`,
            `systemctl enable ceph-mon@${id}`,
            `systemctl start ceph-mon@${id}`,
          ].join('\n'),
          LONG_MS,
        );
        await waitFor(`mon ${id} to form a quorum`, QUORUM_WAIT_MS, async () => (await quorum(s)).quorum.includes(id));
        await recordHost(s, { hostname: id, address: input.address });
        await ensureMgr(id);
        return { fsid: parseFsid(await ceph(s, ['fsid'])) };
      });
    },

    async addHost(spec: CephHostSpec): Promise<void> {
      checkName(spec.hostname);
      checkAddress(spec.address);
      const { release, conf, adminKeyring, osdKeyring } = await withSession(admin, async (s) => ({
        release: await clusterRelease(s),
        conf: await adminConf(s),
        adminKeyring: await readFileB64(s, ADMIN_KEYRING),
        osdKeyring: await readFileB64(s, BOOTSTRAP_OSD_KEYRING),
      }));
      if (!adminKeyring || !osdKeyring)
        throw new DriverError(FAILURE.commandFailed, 'the admin node has no admin or bootstrap-osd keyring', false);
      await onHost(spec.hostname, async (s) => {
        await ensureRelease(s, {
          host: spec.hostname,
          target: release,
          roles: ALL_ROLES,
          aptSources: pkg.aptSources,
          mode: 'install',
          sudo,
          timeoutMs,
        });
        await sh(
          s,
          [
            writeFile(CONF, confForHost(conf, spec.address), '644'),
            writeFile(ADMIN_KEYRING, adminKeyring, '600'),
            writeFile(BOOTSTRAP_OSD_KEYRING, osdKeyring, '600', 'ceph:ceph'),
          ].join('\n'),
        );
      });
      await withSession(admin, (s) => recordHost(s, { hostname: spec.hostname, address: spec.address }));
    },

    async hosts(): Promise<string[]> {
      return withSession(admin, async (s) => (await readHosts(s)).map((h) => h.hostname).sort());
    },

    async placeDaemons(type: 'mon' | 'mgr', hosts: string[]): Promise<void> {
      for (const h of hosts) checkName(h);
      if (hosts.length === 0) throw new DriverError(FAILURE.commandFailed, `no hosts to place ${type}s on`, false);
      const recorded = await withSession(admin, readHosts);
      const find = (h: string) => {
        const r = recorded.find((x) => x.hostname === h);
        if (!r) throw new DriverError(FAILURE.commandFailed, `${h} is not a host of the cluster (add it first)`, false);
        return r;
      };
      if (type === 'mgr') {
        for (const h of hosts) await ensureMgr(find(h).hostname);
        // The mgrs to remove: those in `mgr dump` and those with a key (a mgr started moments ago
        // is in `mgr dump` only after its first beacon). Keys of hosts no longer recorded are not
        // ours to reach.
        const running = await withSession(admin, async (s) => [
          ...new Set([
            ...parseMgrNames(await ceph(s, ['mgr', 'dump'])),
            ...parseMgrKeys(await ceph(s, ['auth', 'ls'])).filter((h) => recorded.some((r) => r.hostname === h)),
          ]),
        ]);
        for (const m of running) if (!hosts.includes(m)) await removeMgr(m);
        return;
      }
      for (const h of hosts) {
        const { mons } = await withSession(admin, quorum);
        if (mons.some((m) => m.name === h)) continue;
        let port: number | null = null;
        if (pkg.monPortBase !== null) {
          const used = new Set(mons.flatMap((m) => m.addrs.map((a) => Number(a.split(':').pop()))));
          port = pkg.monPortBase;
          while (used.has(port)) port += 1;
        }
        await addMon(find(h), port);
      }
      // Mons not placed go, one at a time, after the new ones joined: quorum holds throughout.
      const { mons } = await withSession(admin, quorum);
      for (const m of mons) if (!hosts.includes(m.name)) await removeMon(m.name);
      // Every host learns every mon (mon_host) and the mons' own addresses.
      const conf = await withSession(admin, adminConf);
      const after = await withSession(admin, quorum);
      let next = confSet(
        conf,
        'global',
        'mon_host',
        after.mons
          .map((m) => confGet(conf, `mon.${m.name}`, 'public_addrv'))
          .filter((a): a is string => a !== null)
          .join(','),
      );
      for (const s of conf) {
        const name = /^mon\.(.+)$/.exec(s.section)?.[1];
        if (name && !after.mons.some((m) => m.name === name)) next = next.filter((x) => x.section !== s.section);
      }
      await distributeConf(next, recorded);
    },

    async daemons(): Promise<CephDaemons> {
      return withSession(admin, async (s) => {
        const q = await quorum(s);
        const mgrs = parseMgrNames(await ceph(s, ['mgr', 'dump']));
        return { mons: [...q.quorum].sort(), mgrs };
      });
    },

    async devices(host: string): Promise<CephDevice[]> {
      return onHost(host, async (s) => {
        const disks = hostDisks(await s.run(INVENTORY_COMMANDS.lsblk, { timeoutMs }));
        if (disks.length === 0) return [];
        const devices = parseDeviceCheck(host, await sh(s, deviceCheckScript(disks)));
        // An OSD of this very cluster (a creation retried after prepare) stays usable: createOsd
        // activates it instead of preparing the device again.
        const conf = await readFileB64(s, CONF);
        const fsid = conf ? confGet(parseConf(conf), 'global', 'fsid') : null;
        for (const d of devices) {
          if (!fsid || !d.rejected_reasons.some((r) => r.includes('bluestore label'))) continue;
          const res = await s.exec(`${sudo}ceph-volume raw list /dev/${d.device} --format json`, {
            timeoutMs: LONG_MS,
          });
          if (res.code === 0 && parseRawList(res.stdout).some((o) => o.ceph_fsid === fsid)) {
            d.available = true;
            d.rejected_reasons = [];
          }
        }
        return devices;
      });
    },

    async createOsd(host: string, device: string): Promise<{ osd_id: number }> {
      checkName(host);
      checkDevice(device);
      const fsid = await withSession(admin, async (s) => {
        const before = osdOnHostDevice(await ceph(s, ['osd', 'metadata']), host, device);
        return { before, fsid: parseFsid(await ceph(s, ['fsid'])) };
      });
      if (fsid.before !== null) return { osd_id: fsid.before };
      const dev = `/dev/${device}`;
      const osd = await onHost(host, async (s) => {
        const list = async () =>
          parseRawList(await s.run(`${sudo}ceph-volume raw list ${dev} --format json`, { timeoutMs: LONG_MS }));
        let found = (await list()).find((o) => o.device === device);
        if (found && found.ceph_fsid !== fsid.fsid)
          throw new DriverError(
            FAILURE.commandFailed,
            `${host}:${dev} holds OSD ${found.osd_id} of another cluster (${found.ceph_fsid}): zap it first`,
            false,
          );
        if (!found) {
          await s.run(`${sudo}ceph-volume raw prepare --bluestore --data ${dev}`, { timeoutMs: LONG_MS });
          found = (await list()).find((o) => o.device === device);
          if (!found)
            throw new DriverError(
              FAILURE.commandFailed,
              `ceph-volume raw prepare left no OSD on ${host}:${dev}`,
              false,
            );
        }
        const n = found.osd_id;
        await sh(
          s,
          [
            `ceph-volume raw activate --device ${dev} --no-tmpfs --no-systemd`,
            `chown -R ceph:ceph /var/lib/ceph/osd/ceph-${n}`,
            `systemctl enable ceph-osd@${n}`,
            `systemctl start ceph-osd@${n}`,
          ].join('\n'),
          LONG_MS,
        );
        return n;
      });
      // Read back: the OSD booted and reported its host and device.
      await waitFor(`osd.${osd} on ${host}:${dev} to boot`, OSD_BOOT_WAIT_MS, () =>
        withSession(admin, async (s) => osdOnHostDevice(await ceph(s, ['osd', 'metadata']), host, device) === osd),
      );
      return { osd_id: osd };
    },

    async removeHostDaemons(host: string, fsid: string | null): Promise<void> {
      checkName(host);
      if (fsid) checkFsid(fsid);
      await onHost(host, (s) =>
        sh(
          s,
          [
            // Another cluster's configuration (this host was never bootstrapped into this one): not ours to touch.
            fsid ? `if [ -f ${CONF} ] && ! grep -qx 'fsid = ${fsid}' ${CONF}; then exit 0; fi` : ':',
            'for d in /var/lib/ceph/osd/ceph-* /var/lib/ceph/mon/ceph-* /var/lib/ceph/mgr/ceph-*; do',
            '  [ -e "$d" ] || continue',
            '  t=$(basename $(dirname $d)); i=${d##*/ceph-}',
            '  systemctl stop ceph-$t@$i',
            '  systemctl disable ceph-$t@$i',
            '  if grep -q " $d " /proc/mounts; then umount $d; fi',
            'done',
            `rm -rf /var/lib/ceph/osd/ceph-* /var/lib/ceph/mon/ceph-* /var/lib/ceph/mgr/ceph-* ${BOOTSTRAP_OSD_KEYRING} /etc/ceph/ceph.conf /etc/ceph/*.keyring`,
          ].join('\n'),
          LONG_MS,
        ),
      );
    },

    async osdDevicesOn(host: string, fsid: string | null): Promise<string[]> {
      checkName(host);
      if (!fsid) return [];
      checkFsid(fsid);
      return onHost(host, async (s) => {
        // Only the host's own disks: a device it can see but does not own is not its to wipe.
        const disks = hostDisks(await s.run(INVENTORY_COMMANDS.lsblk, { timeoutMs }));
        const out: string[] = [];
        for (const d of disks) {
          const res = await s.exec(`${sudo}ceph-volume raw list /dev/${d} --format json`, { timeoutMs: LONG_MS });
          if (res.code !== 0) continue; // not a bluestore device
          if (parseRawList(res.stdout).some((o) => o.ceph_fsid === fsid)) out.push(d);
        }
        return out.sort();
      });
    },

    async zapDevices(host: string, fsid: string | null, devices: string[]): Promise<void> {
      checkName(host);
      for (const d of devices) checkDevice(d);
      if (!fsid || devices.length === 0) return;
      await onHost(host, async (s) => {
        for (const d of devices) {
          const res = await s.exec(`${sudo}ceph-volume lvm zap --destroy /dev/${d}`, { timeoutMs: LONG_MS });
          if (res.code !== 0)
            throw new DriverError(
              FAILURE.commandFailed,
              `ceph-volume lvm zap --destroy /dev/${d} on ${host} exited with ${res.code}: ${tail(res.stderr, 500)}`,
              false,
            );
        }
      });
    },

    async purgeCluster(): Promise<void> {
      // Every host removed its daemons, data and configuration: nothing is left centrally.
    },

    async destroyOsd(host: string, osdId: number): Promise<void> {
      checkName(host);
      checkOsdId(osdId);
      // The failed disk's daemon must not come back on its own (systemd restarts it): stopped and
      // disabled first; a host that does not answer keeps its unit until the recreate cleans it.
      try {
        await onHost(host, (s) => sh(s, retireOsdScript(osdId), LONG_MS));
      } catch (err) {
        if (!(err instanceof DriverError) || err.type === FAILURE.commandFailed) throw err;
      }
      await withSession(admin, async (s) => {
        const state = osdStateOf(await ceph(s, ['osd', 'dump']), osdId);
        if (state === null) throw bad(`ceph osd destroy ${osdId}`, `the OSD map has no osd.${osdId}`);
        if (!state.includes('destroyed'))
          await ceph(s, ['osd', 'destroy', String(osdId), '--yes-i-really-mean-it'], false);
        const after = osdStateOf(await ceph(s, ['osd', 'dump']), osdId);
        if (!after?.includes('destroyed'))
          throw bad(
            `ceph osd destroy ${osdId}`,
            `osd.${osdId} is ${after?.join(',') ?? 'gone'} afterwards, not destroyed`,
          );
      });
    },

    async recreateOsd(host: string, device: string, osdId: number): Promise<void> {
      checkName(host);
      checkDevice(device);
      checkOsdId(osdId);
      const dev = `/dev/${device}`;
      const admin0 = await withSession(admin, async (s) => ({
        on: osdOnHostDevice(await ceph(s, ['osd', 'metadata']), host, device),
        fsid: parseFsid(await ceph(s, ['fsid'])),
        state: osdStateOf(await ceph(s, ['osd', 'dump']), osdId),
      }));
      if (admin0.on === osdId) return;
      if (admin0.on !== null)
        throw new DriverError(
          FAILURE.commandFailed,
          `${host}:${dev} already holds osd.${admin0.on}; not zapping it`,
          false,
        );
      if (admin0.state === null)
        throw new DriverError(FAILURE.commandFailed, `the OSD map has no osd.${osdId} to recreate`, false);
      await onHost(host, async (s) => {
        const list = async () =>
          parseRawList(await s.run(`${sudo}ceph-volume raw list ${dev} --format json`, { timeoutMs: LONG_MS }));
        let found = (await list()).find((o) => o.device === device);
        if (found && found.ceph_fsid === admin0.fsid && found.osd_id !== osdId)
          throw new DriverError(
            FAILURE.commandFailed,
            `${host}:${dev} holds osd.${found.osd_id} of this cluster; not zapping it`,
            false,
          );
        // Another cluster's OSD (whatever its id), or stale: zapped and prepared anew.
        if (found && (found.ceph_fsid !== admin0.fsid || found.osd_id !== osdId)) found = undefined;
        if (!found) {
          // Prepare needs the id destroyed (not merely down): a live id would be refused by the mons.
          if (!admin0.state!.includes('destroyed'))
            throw new DriverError(
              FAILURE.commandFailed,
              `osd.${osdId} is not destroyed; it cannot be recreated`,
              false,
            );
          await sh(s, retireOsdScript(osdId), LONG_MS);
          await s.run(`${sudo}ceph-volume lvm zap --destroy ${dev}`, { timeoutMs: LONG_MS });
          await s.run(`${sudo}ceph-volume raw prepare --bluestore --data ${dev} --osd-id ${osdId}`, {
            timeoutMs: LONG_MS,
          });
          found = (await list()).find((o) => o.device === device);
          if (found?.osd_id !== osdId)
            throw new DriverError(
              FAILURE.commandFailed,
              `ceph-volume raw prepare --osd-id ${osdId} left ${found ? `osd.${found.osd_id}` : 'no OSD'} on ${host}:${dev}`,
              false,
            );
        }
        await sh(
          s,
          [
            `ceph-volume raw activate --device ${dev} --no-tmpfs --no-systemd`,
            `chown -R ceph:ceph /var/lib/ceph/osd/ceph-${osdId}`,
            `systemctl enable ceph-osd@${osdId}`,
            `systemctl start ceph-osd@${osdId}`,
          ].join('\n'),
          LONG_MS,
        );
      });
      await waitFor(`osd.${osdId} on ${host}:${dev} to boot`, OSD_BOOT_WAIT_MS, () =>
        withSession(admin, async (s) => osdOnHostDevice(await ceph(s, ['osd', 'metadata']), host, device) === osdId),
      );
    },
  };
}
