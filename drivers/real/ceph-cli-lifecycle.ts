/**
 * Cluster lifecycle over cephadm and the orchestrator CLI (`ceph orch …`), run on the admin node;
 * host-level steps (SSH key for cephadm, rm-cluster, zap) run on the host itself.
 *
 * Exit codes are not trusted (LAB.md): every step that changes the cluster is read back by the
 * activity calling it (hosts, daemons, OSD ids from `osd metadata`, rules from `crush rule dump`).
 * Not yet run against a real cephadm cluster (the lab has package-based Ceph 16): the parsers are
 * tested on the documented JSON shapes in test/fixtures/ceph.
 */
import { FAILURE } from '../../lib/failures';
import { shellQuote } from '../driver-errors';
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
import { osdStateOf, parseJsonArray } from './ceph-json';

export { parseCrushRules, parseFsid } from './ceph-cli-crush';

/** Container images of the releases NodeFoundry installs. */
export const CEPH_IMAGES: Record<string, string> = {
  reef: 'quay.io/ceph/ceph:v18',
  squid: 'quay.io/ceph/ceph:v19',
  tentacle: 'quay.io/ceph/ceph:v20',
};

const BOOTSTRAP_TIMEOUT_MS = 20 * 60_000;

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

function bad(what: string, detail: string): DriverError {
  return new DriverError(FAILURE.commandFailed, `unexpected ${what} output: ${detail}`, false);
}

/** `ceph orch host ls -f json`: [{hostname, addr, labels, status}]. */
export function parseOrchHosts(stdout: string): string[] {
  return parseJsonArray('orch host ls', stdout)
    .map((h) => h.hostname)
    .filter((h): h is string => typeof h === 'string')
    .sort();
}

/** `ceph orch ps -f json`: running mon and mgr daemons by host. */
export function parseOrchPs(stdout: string): CephDaemons {
  const mons = new Set<string>();
  const mgrs = new Set<string>();
  for (const d of parseJsonArray('orch ps', stdout)) {
    // status 1 = running; status_desc "running" on every release that prints it.
    const running = d.status_desc === 'running' || d.status === 1;
    if (!running || typeof d.hostname !== 'string') continue;
    if (d.daemon_type === 'mon') mons.add(d.hostname);
    if (d.daemon_type === 'mgr') mgrs.add(d.hostname);
  }
  return { mons: [...mons].sort(), mgrs: [...mgrs].sort() };
}

/** `ceph orch device ls <host> -f json`: [{hostname, devices: [{path, available, rejected_reasons}]}]. */
export function parseOrchDevices(stdout: string): CephDevice[] {
  const out: CephDevice[] = [];
  for (const h of parseJsonArray('orch device ls', stdout)) {
    const host = typeof h.hostname === 'string' ? h.hostname : typeof h.name === 'string' ? h.name : '';
    for (const d of Array.isArray(h.devices) ? h.devices.map(obj) : []) {
      if (typeof d.path !== 'string') continue;
      out.push({
        host,
        device: d.path.replace(/^\/dev\//, ''),
        available: d.available === true,
        rejected_reasons: Array.isArray(d.rejected_reasons)
          ? d.rejected_reasons.filter((r): r is string => typeof r === 'string')
          : [],
      });
    }
  }
  return out;
}

/**
 * `ceph osd metadata -f json`: each OSD's host and, when it sits on one device, that device ("sdb";
 * an OSD with a separate DB/WAL device lists "nvme0n1,sdb" and gets none: which one holds the data is
 * not said there). For the refresh of the OSD records (issue 8 #10: the device follows the host).
 */
export function osdMetadataDevices(stdout: string): Map<number, { host: string; device: string | null }> {
  const out = new Map<number, { host: string; device: string | null }>();
  for (const m of parseJsonArray('osd metadata', stdout)) {
    if (typeof m.id !== 'number' || typeof m.hostname !== 'string') continue;
    const devices = typeof m.devices === 'string' ? m.devices.split(',').filter(Boolean) : [];
    out.set(m.id, { host: m.hostname, device: devices.length === 1 ? devices[0]! : null });
  }
  return out;
}

/** `ceph osd metadata -f json`: the OSD id of a device on a host (`devices` is "sdb" or "sdb,sdc"). */
export function osdOnDevice(stdout: string, host: string, device: string): number | null {
  for (const m of parseJsonArray('osd metadata', stdout)) {
    const devices = typeof m.devices === 'string' ? m.devices.split(',') : [];
    if (m.hostname === host && devices.includes(device) && typeof m.id === 'number') return m.id;
  }
  return null;
}

/**
 * `ceph-volume lvm list --format json` on a host: `{"<osd id>": [{"type": "block", "devices":
 * ["/dev/sdb"], "tags": {"ceph.cluster_fsid": "…"}}, …]}`. The kernel names (without /dev/) of the
 * devices behind the block volumes of this cluster's OSDs. cephadm may print lines before the JSON.
 */
export function osdDevicesOfCluster(stdout: string, fsid: string): string[] {
  const start = stdout.indexOf('{');
  let doc: unknown;
  try {
    doc = JSON.parse(start >= 0 ? stdout.slice(start) : stdout);
  } catch {
    throw bad('ceph-volume lvm list', 'not JSON');
  }
  const out = new Set<string>();
  for (const volumes of Object.values(obj(doc))) {
    if (!Array.isArray(volumes)) continue;
    for (const v of volumes.map(obj)) {
      if (v.type !== 'block' || obj(v.tags)['ceph.cluster_fsid'] !== fsid || !Array.isArray(v.devices)) continue;
      for (const d of v.devices) if (typeof d === 'string' && d.startsWith('/dev/')) out.add(d.slice('/dev/'.length));
    }
  }
  return [...out].sort();
}

export function createCephCliLifecycleOps(ctx: CephCliContext): CephLifecycleOps {
  const { options, ceph, withSession, checkName, sudo, timeoutMs } = ctx;
  const admin = options.adminShell;

  function checkDevice(device: string): void {
    if (!/^[A-Za-z0-9_-]+$/.test(device))
      throw new DriverError(FAILURE.commandFailed, `invalid device name ${JSON.stringify(device)}`, false);
  }
  function checkFsid(fsid: string): void {
    if (!/^[0-9a-f-]{36}$/.test(fsid))
      throw new DriverError(FAILURE.commandFailed, `invalid fsid ${JSON.stringify(fsid)}`, false);
  }

  async function run(s: ShellSession, command: string, timeout = timeoutMs): Promise<string> {
    return s.run(`${sudo}${command}`, { timeoutMs: timeout });
  }

  return {
    ...createCephCliSharedLifecycleOps(ctx),

    async bootstrap(input): Promise<{ fsid: string }> {
      checkName(input.host);
      const image = CEPH_IMAGES[input.cephVersion];
      if (!image) throw new DriverError(FAILURE.commandFailed, `no image for Ceph ${input.cephVersion}`, false);
      return withSession(admin, async (s) => {
        // Idempotent: a node that already runs a cluster answers `ceph fsid`.
        const existing = await s.exec(ctx.cephCommand(['fsid'], true), { timeoutMs });
        if (existing.code === 0) return { fsid: parseFsid(existing.stdout) };
        await run(
          s,
          `cephadm --image ${shellQuote(image)} bootstrap --mon-ip ${shellQuote(input.address)} --skip-monitoring-stack --skip-dashboard --allow-fqdn-hostname`,
          BOOTSTRAP_TIMEOUT_MS,
        );
        const size = String(input.replication);
        await ceph(s, ['config', 'set', 'global', 'osd_pool_default_size', size], false);
        await ceph(
          s,
          [
            'config',
            'set',
            'global',
            'osd_pool_default_min_size',
            String(input.replication - Math.floor(input.replication / 2)),
          ],
          false,
        );
        return { fsid: parseFsid(await ceph(s, ['fsid'])) };
      });
    },

    async addHost(spec: CephHostSpec): Promise<void> {
      checkName(spec.hostname);
      const key = await withSession(admin, (s) => ceph(s, ['cephadm', 'get-pub-key'], false));
      if (!/^ssh-[a-z0-9-]+ [A-Za-z0-9+/=]+( \S+)?$/.test(key.trim()))
        throw bad('cephadm get-pub-key', 'not an SSH public key');
      // cephadm manages hosts as root over SSH: authorize the cluster's key on the new host, once.
      await withSession(
        () => options.hostShell(spec.hostname),
        (s) =>
          run(
            s,
            `sh -c ${shellQuote(`mkdir -p /root/.ssh && touch /root/.ssh/authorized_keys && (grep -qxF ${shellQuote(key.trim())} /root/.ssh/authorized_keys || echo ${shellQuote(key.trim())} >> /root/.ssh/authorized_keys)`)}`,
          ),
      );
      await withSession(admin, (s) => ceph(s, ['orch', 'host', 'add', spec.hostname, spec.address], false));
    },

    async hosts(): Promise<string[]> {
      return withSession(admin, async (s) => parseOrchHosts(await ceph(s, ['orch', 'host', 'ls'])));
    },

    async placeDaemons(type: 'mon' | 'mgr', hosts: string[]): Promise<void> {
      for (const h of hosts) checkName(h);
      await withSession(admin, (s) =>
        ceph(s, ['orch', 'apply', type, `--placement=${hosts.length} ${hosts.join(' ')}`], false),
      );
    },

    async daemons(): Promise<CephDaemons> {
      return withSession(admin, async (s) => parseOrchPs(await ceph(s, ['orch', 'ps'])));
    },

    async devices(host: string): Promise<CephDevice[]> {
      checkName(host);
      return withSession(admin, async (s) =>
        parseOrchDevices(await ceph(s, ['orch', 'device', 'ls', host, '--refresh'])),
      );
    },

    async createOsd(host: string, device: string): Promise<{ osd_id: number }> {
      checkName(host);
      checkDevice(device);
      return withSession(admin, async (s) => {
        const before = osdOnDevice(await ceph(s, ['osd', 'metadata']), host, device);
        if (before !== null) return { osd_id: before };
        // Exits 0 with "Created no osd(s)" when the device is unusable: read the OSD map back.
        await ceph(s, ['orch', 'daemon', 'add', 'osd', `${host}:/dev/${device}`], false);
        const id = osdOnDevice(await ceph(s, ['osd', 'metadata']), host, device);
        if (id === null)
          throw new DriverError(FAILURE.commandFailed, `ceph orch created no OSD on ${host}:/dev/${device}`, false);
        return { osd_id: id };
      });
    },

    async removeHostDaemons(host: string, fsid: string | null): Promise<void> {
      checkName(host);
      if (!fsid) return; // bootstrap never finished: nothing of this cluster runs anywhere
      checkFsid(fsid);
      await withSession(
        () => options.hostShell(host),
        (s) => run(s, `cephadm rm-cluster --fsid ${fsid} --force`, BOOTSTRAP_TIMEOUT_MS),
      );
    },

    async osdDevicesOn(host: string, fsid: string | null): Promise<string[]> {
      checkName(host);
      if (!fsid) return [];
      checkFsid(fsid);
      return withSession(
        () => options.hostShell(host),
        async (s) =>
          osdDevicesOfCluster(
            await run(s, `cephadm ceph-volume --fsid ${fsid} -- lvm list --format json`, BOOTSTRAP_TIMEOUT_MS),
            fsid,
          ),
      );
    },

    async destroyOsd(host: string, osdId: number): Promise<void> {
      checkName(host);
      if (!Number.isInteger(osdId) || osdId < 0)
        throw new DriverError(FAILURE.commandFailed, `invalid OSD id ${osdId}`, false);
      await withSession(admin, async (s) => {
        const state = osdStateOf(await ceph(s, ['osd', 'dump']), osdId);
        if (state === null) throw new DriverError(FAILURE.commandFailed, `the OSD map has no osd.${osdId}`, false);
        if (state.includes('destroyed')) return;
        // The orchestrator stops the daemon (it would restart it otherwise); a daemon it cannot reach stays down.
        await s.exec(ctx.cephCommand(['orch', 'daemon', 'stop', `osd.${osdId}`], false), { timeoutMs });
        await ceph(s, ['osd', 'destroy', String(osdId), '--yes-i-really-mean-it'], false);
        if (!osdStateOf(await ceph(s, ['osd', 'dump']), osdId)?.includes('destroyed'))
          throw new DriverError(FAILURE.commandFailed, `osd.${osdId} is not destroyed after ceph osd destroy`, false);
      });
    },

    async recreateOsd(host: string, device: string, osdId: number): Promise<void> {
      checkName(host);
      checkDevice(device);
      await withSession(admin, async (s) => {
        const on = osdOnDevice(await ceph(s, ['osd', 'metadata']), host, device);
        if (on === osdId) return;
        if (on !== null)
          throw new DriverError(FAILURE.commandFailed, `${host}:/dev/${device} already holds osd.${on}`, false);
        // cephadm gives a new OSD on a host the ids destroyed there (its osd_id_claims): the same id.
        await ceph(s, ['orch', 'device', 'zap', host, `/dev/${device}`, '--force'], false);
        await ceph(s, ['orch', 'daemon', 'add', 'osd', `${host}:/dev/${device}`], false);
        const id = osdOnDevice(await ceph(s, ['osd', 'metadata']), host, device);
        if (id !== osdId)
          throw new DriverError(
            FAILURE.commandFailed,
            `ceph orch created ${id === null ? 'no OSD' : `osd.${id}`} on ${host}:/dev/${device}, not osd.${osdId}`,
            false,
          );
      });
    },

    async zapDevices(host: string, fsid: string | null, devices: string[]): Promise<void> {
      checkName(host);
      for (const d of devices) checkDevice(d);
      if (!fsid || devices.length === 0) return;
      checkFsid(fsid);
      await withSession(
        () => options.hostShell(host),
        async (s) => {
          for (const d of devices)
            await run(s, `cephadm ceph-volume --fsid ${fsid} -- lvm zap --destroy /dev/${d}`, BOOTSTRAP_TIMEOUT_MS);
        },
      );
    },

    async purgeCluster(): Promise<void> {
      // Nothing is left once every host ran rm-cluster: a cephadm cluster has no central record.
    },
  };
}
