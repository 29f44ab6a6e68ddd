/**
 * Cluster lifecycle of the simulated Ceph, step by step as cephadm builds a real one: bootstrap
 * leaves one host with a mon, a mgr and no OSDs (every PG stale, HEALTH_WARN); hosts are added,
 * mons and mgrs placed, OSDs created device by device; deletion stops the daemons host by host,
 * zaps the devices and forgets the cluster. createSandboxCephCluster (fixtures) still builds a whole
 * cluster at once; both produce the same stored state.
 *
 * Each call checks what the real command needs: the admin node reachable and the mons in quorum
 * (the orchestrator is a mgr module), the target host up (cephadm reaches it over SSH), the device
 * present. Everything is idempotent, as the activities calling it are retried.
 */
import { createHash } from 'node:crypto';
import type { SandboxMachine } from '../../db/database';
import { json } from '../../db/database';
import { FAILURE } from '../../lib/failures';
import {
  DriverError,
  type CephCrushRule,
  type CephDaemons,
  type CephDevice,
  type CephHostSpec,
  type CephLifecycleOps,
  type CrushFailureDomain,
} from '../types';
import { appendDeviceEvent, findByIp, hasFault, machineCondition, NOMINAL_BOOT_DELAY_MS } from './sandbox-machines';
import {
  NOMINAL_DOWN_OUT_INTERVAL_MS,
  NOMINAL_RECOVERY_DELAY_MS,
  type SandboxCephContext,
  type SandboxCephOsd,
  type SandboxCephState,
} from './sandbox-ceph-state';
import { adoptSandboxCluster } from './sandbox-ceph-import';

/** The rule every cluster starts with (what a fresh Ceph has as rule 0). */
export const DEFAULT_CRUSH_RULE = { id: 0, name: 'replicated_rule', failure_domain: 'host' } as const;

/** Sorted device names; `nvme0n1` before `nvme1n1`, `sda` before `sdb`. */
const byName = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

export function crushRulesOf(state: SandboxCephState): CephCrushRule[] {
  return state.crush_rules ?? [DEFAULT_CRUSH_RULE];
}

export function createSandboxLifecycleOps(ctx: SandboxCephContext): CephLifecycleOps {
  const clusterId = ctx.target.clusterId;

  async function stored(): Promise<SandboxCephState | null> {
    const row = await ctx.db
      .selectFrom('sandbox_ceph')
      .select('state')
      .where('cluster_id', '=', clusterId)
      .executeTakeFirst();
    const state = row ? (row.state as SandboxCephState) : null;
    if (state && state.account_id !== ctx.accountId) {
      throw new DriverError(FAILURE.cephUnavailable, `no Ceph cluster ${clusterId} in this sandbox`, false);
    }
    return state;
  }

  /** cephadm reaches every host over SSH: the machine must be up. */
  function assertUp(m: SandboxMachine | undefined, host: string): SandboxMachine {
    if (!m || !machineCondition(m, ctx.now()).running) {
      throw new DriverError(FAILURE.sshUnreachable, `ssh ${host}: host unreachable (cephadm could not connect)`, true);
    }
    return m;
  }

  async function machineOf(host: string): Promise<SandboxMachine | undefined> {
    const { state, machines } = await ctx.load();
    ctx.hostOf(state, host);
    return machines.get(host);
  }

  return {
    async bootstrap(input): Promise<{ fsid: string }> {
      const existing = await stored();
      if (existing) return { fsid: existing.fsid };
      const m = assertUp(await findByIp(ctx.db, ctx.accountId, ctx.target.admin.host), input.host);
      // The machine rows store delays already scaled by the sandbox speed; the cluster follows them.
      const speed = NOMINAL_BOOT_DELAY_MS > 0 ? m.boot_delay_ms / NOMINAL_BOOT_DELAY_MS : 0;
      const size = input.replication;
      const state: SandboxCephState = {
        version: 1,
        account_id: ctx.accountId,
        cluster_id: clusterId,
        fsid: fsidOf(clusterId),
        ceph_version: input.cephVersion,
        size,
        min_size: size - Math.floor(size / 2),
        // The .mgr pool cephadm creates: one PG, stale until OSDs exist.
        pg_num: 1,
        recovery_delay_ms: Math.round(NOMINAL_RECOVERY_DELAY_MS * speed),
        down_out_interval_ms: Math.round(NOMINAL_DOWN_OUT_INTERVAL_MS * speed),
        hosts: [{ hostname: input.host, ipmi_address: m.ipmi_address, rack: null, zone: null }],
        mons: [input.host],
        mgrs: [input.host],
        osds: [],
        noout_hosts: [],
        created_at: new Date(ctx.now()).toISOString(),
        pools: [
          {
            id: 1,
            name: '.mgr',
            type: 'replicated',
            size,
            min_size: size - Math.floor(size / 2),
            pg_num: 1,
            crush_rule_id: 0,
            erasure_profile: null,
            applications: ['mgr'],
            pg_autoscale_mode: 'on',
          },
        ],
        crush_rules: [{ ...DEFAULT_CRUSH_RULE }],
        erasure_profiles: [{ name: 'default', k: 2, m: 2, failure_domain: 'host' }],
      };
      await ctx.db
        .insertInto('sandbox_ceph')
        .values({ cluster_id: clusterId, state: json(state) })
        .onConflict((oc) => oc.column('cluster_id').doNothing())
        .execute();
      return { fsid: (await stored())!.fsid };
    },

    adopt: () => adoptSandboxCluster(ctx),

    async addHost(spec: CephHostSpec): Promise<void> {
      await ctx.cephView();
      const m = assertUp(await findByIp(ctx.db, ctx.accountId, spec.address), spec.hostname);
      await ctx.mutate((s) => {
        if (s.hosts.some((h) => h.hostname === spec.hostname)) return;
        if (s.hosts.some((h) => h.ipmi_address === m.ipmi_address)) {
          throw new DriverError(
            FAILURE.commandFailed,
            `Error EINVAL: host ${spec.address} is already in the cluster under another name`,
            false,
          );
        }
        s.hosts.push({ hostname: spec.hostname, ipmi_address: m.ipmi_address, rack: spec.rack, zone: spec.zone });
      });
    },

    async hosts(): Promise<string[]> {
      return (await ctx.cephView()).state.hosts.map((h) => h.hostname).sort();
    },

    async placeDaemons(type: 'mon' | 'mgr', hosts: string[]): Promise<void> {
      const v = await ctx.cephView();
      for (const h of hosts) ctx.hostOf(v.state, h);
      if (hosts.length === 0)
        throw new DriverError(FAILURE.commandFailed, `Error EINVAL: placement for ${type} is empty`, false);
      await ctx.mutate((s) => {
        if (type === 'mon') s.mons = [...hosts];
        else s.mgrs = [...hosts];
      });
    },

    async daemons(): Promise<CephDaemons> {
      await ctx.cephView();
      const { state, machines } = await ctx.load();
      const t = ctx.now();
      const up = (h: string) => {
        const m = machines.get(h);
        return m !== undefined && machineCondition(m, t).running && !hasFault(m, 'mons_mgrs_stay_down');
      };
      return { mons: state.mons.filter(up).sort(), mgrs: state.mgrs.filter(up).sort() };
    },

    async devices(host: string): Promise<CephDevice[]> {
      const v = await ctx.cephView();
      const m = await machineOf(host);
      if (!m) return [];
      return m.drives
        .map((d) => {
          const used = v.state.osds.some((o) => o.host === host && o.device === d.device);
          return {
            host,
            device: d.device,
            available: !used,
            rejected_reasons: used ? ['Insufficient space (<10 extents) on vgs', 'LVM detected'] : [],
          };
        })
        .sort((a, b) => byName(a.device, b.device));
    },

    async createOsd(host: string, device: string): Promise<{ osd_id: number }> {
      await ctx.cephView();
      const m = assertUp(await machineOf(host), host);
      const drive = m.drives.find((d) => d.device === device);
      if (!drive)
        throw new DriverError(
          FAILURE.commandFailed,
          `Error EINVAL: Device path '/dev/${device}' not found on host '${host}'`,
          false,
        );
      let id = -1;
      await ctx.mutate((s, t) => {
        const existing = s.osds.find((o) => o.host === host && o.device === device);
        if (existing) {
          id = existing.id;
          return;
        }
        // Ceph hands out the lowest free id.
        const taken = new Set(s.osds.map((o) => o.id));
        id = 0;
        while (taken.has(id)) id++;
        const osd: SandboxCephOsd = {
          id,
          host,
          device,
          device_class: drive.type,
          crush_weight: Math.round(((drive.size_gb * 1e9) / 2 ** 40) * 1e5) / 1e5,
          reweight: 1,
          stopped_at: null,
          // A new OSD peers and takes its PGs: recovering for the recovery delay, like a restart.
          started_at: new Date(t).toISOString(),
        };
        s.osds.push(osd);
        s.osds.sort((a, b) => a.id - b.id);
      });
      return { osd_id: id };
    },

    async setCrushLocation(spec: CephHostSpec): Promise<void> {
      const v = await ctx.cephView();
      ctx.hostOf(v.state, spec.hostname);
      await ctx.mutate((s) => {
        const h = s.hosts.find((x) => x.hostname === spec.hostname)!;
        h.rack = spec.rack;
        h.zone = spec.zone;
      });
    },

    async createCrushRule(name: string, failureDomain: CrushFailureDomain): Promise<void> {
      await ctx.cephView();
      await ctx.mutate((s) => {
        const rules = (s.crush_rules ??= [{ ...DEFAULT_CRUSH_RULE }]);
        // Like Ceph: an existing rule of that name is left as it is (exit 0); callers read it back.
        if (rules.some((r) => r.name === name)) return;
        rules.push({ id: Math.max(...rules.map((r) => r.id)) + 1, name, failure_domain: failureDomain });
      });
    },

    async crushRules(): Promise<CephCrushRule[]> {
      return crushRulesOf((await ctx.cephView()).state).map((r) => ({ ...r }));
    },

    async removeHostDaemons(host: string): Promise<void> {
      const state = await stored();
      if (!state || !state.hosts.some((h) => h.hostname === host)) return;
      const { machines } = await ctx.load();
      const m = assertUp(machines.get(host), host);
      if (hasFault(m, 'rm_cluster_fails')) {
        throw new DriverError(
          FAILURE.commandFailed,
          `cephadm rm-cluster on ${host}: a daemon did not stop (sandbox fault rm_cluster_fails)`,
          true,
        );
      }
      await ctx.mutate((s, t) => {
        const at = new Date(t).toISOString();
        for (const o of s.osds) if (o.host === host && o.stopped_at === null) o.stopped_at = at;
        s.mons = s.mons.filter((h) => h !== host);
        s.mgrs = s.mgrs.filter((h) => h !== host);
      });
    },

    async osdDevicesOn(host: string, _fsid: string | null): Promise<string[]> {
      // `ceph-volume lvm list` on the host: the devices holding an OSD of this cluster there.
      const state = await stored();
      if (!state || !state.hosts.some((h) => h.hostname === host)) return [];
      const { machines } = await ctx.load();
      assertUp(machines.get(host), host);
      return [...new Set(state.osds.filter((o) => o.host === host).map((o) => o.device))].sort();
    },

    async zapDevices(host: string, _fsid: string | null, devices: string[]): Promise<void> {
      const state = await stored();
      if (!state || !state.hosts.some((h) => h.hostname === host)) return;
      const { machines } = await ctx.load();
      const m = assertUp(machines.get(host), host);
      await ctx.mutate((s) => {
        const doomed = s.osds.filter((o) => o.host === host && devices.includes(o.device));
        const busy = doomed.find((o) => o.stopped_at === null);
        if (busy) {
          throw new DriverError(
            FAILURE.commandFailed,
            `ceph-volume lvm zap: /dev/${busy.device} is in use by osd.${busy.id} (stop it first)`,
            false,
          );
        }
        s.osds = s.osds.filter((o) => !doomed.includes(o));
      });
      // Like `lvm zap --destroy`, the wipe happens to whatever device it is given: the machine's
      // device log says which, so a test sees a wrong disk wiped.
      for (const d of devices) await appendDeviceEvent(ctx.db, m, 'zap', d, clusterId);
    },

    async destroyOsd(host: string, osdId: number): Promise<void> {
      const v = await ctx.cephView();
      const view = v.osds.find((o) => o.osd.id === osdId);
      if (!view) throw new DriverError(FAILURE.commandFailed, `Error ENOENT: osd.${osdId} does not exist`, false);
      if (view.osd.destroyed) return;
      // Like the real drivers: the daemon is stopped first on a host that answers.
      const m = await machineOf(host);
      const running = m !== undefined && machineCondition(m, ctx.now()).running;
      await ctx.mutate((s, t) => {
        const osd = s.osds.find((o) => o.id === osdId)!;
        if (running && osd.stopped_at === null) osd.stopped_at = new Date(t).toISOString();
        osd.destroyed = true;
      });
    },

    async recreateOsd(host: string, device: string, osdId: number): Promise<void> {
      const v = await ctx.cephView();
      const m = assertUp(await machineOf(host), host);
      const drive = m.drives.find((d) => d.device === device);
      if (!drive)
        throw new DriverError(FAILURE.commandFailed, `ceph-volume: /dev/${device} not found on ${host}`, false);
      const osd = v.state.osds.find((o) => o.id === osdId);
      if (!osd) throw new DriverError(FAILURE.commandFailed, `Error ENOENT: osd.${osdId} does not exist`, false);
      const other = v.state.osds.find((o) => o.id !== osdId && o.host === host && o.device === device);
      if (other)
        throw new DriverError(FAILURE.commandFailed, `${host}:/dev/${device} already holds osd.${other.id}`, false);
      if (!osd.destroyed) {
        if (osd.host === host && osd.device === device) return;
        throw new DriverError(
          FAILURE.commandFailed,
          `Error EEXIST: osd.${osdId} is not destroyed; ceph-volume --osd-id refuses it`,
          false,
        );
      }
      await appendDeviceEvent(ctx.db, m, 'zap', device, clusterId);
      await ctx.mutate((s, t) => {
        const o = s.osds.find((x) => x.id === osdId)!;
        o.host = host;
        o.device = device;
        o.device_class = drive.type;
        o.destroyed = false;
        o.failed_at = null;
        o.stopped_at = null;
        // The new OSD peers and backfills: recovering for the recovery delay, like a new OSD.
        o.started_at = new Date(t).toISOString();
        // The full (device) weight is the new drive's size; the CRUSH weight stays as destroy left it.
        const rs = s as SandboxCephState & { device_weights?: Record<string, number> };
        rs.device_weights ??= {};
        rs.device_weights[String(osdId)] = Math.round(((drive.size_gb * 1e9) / 2 ** 40) * 1e5) / 1e5;
      });
    },

    async purgeCluster(): Promise<void> {
      if (!(await stored())) return;
      await ctx.db.deleteFrom('sandbox_ceph').where('cluster_id', '=', clusterId).execute();
    },
  };
}

function fsidOf(seed: string): string {
  const h = createHash('sha256').update(`nodefoundry-sandbox-fsid:${seed}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
