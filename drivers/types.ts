/**
 * The driver boundary. Activities talk to hardware only through these interfaces; each has a real
 * implementation (drivers/real: ipmitool, ssh2, the ceph CLI over SSH) and a sandbox one
 * (drivers/sandbox: the simulated datacenter). Failures are thrown as DriverError with a type from
 * FAILURE in workflows/contracts.ts, so activities can classify them without parsing messages.
 */
import type { FailureType } from '../lib/failures';

export class DriverError extends Error {
  override name = 'DriverError';
  constructor(
    readonly type: FailureType,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

// ---- Power (IPMI) -------------------------------------------------------------------------------

export type PowerState = 'on' | 'off';

/** How NodeFoundry talks to a node's BMC (nodes.bmc_protocol). */
export type BmcProtocol = 'ipmi' | 'redfish';

export interface BmcTarget {
  address: string;
  port: number;
  username: string;
  password: string;
  /** Absent: `ipmi` (every target built before Redfish existed). */
  protocol?: BmcProtocol;
  /**
   * Redfish: the SHA-256 fingerprint of the BMC's TLS certificate pinned at registration
   * ("AB:CD:…", as `openssl x509 -fingerprint -sha256` prints it); null/absent = first contact
   * (only `identify` may be called then). Unused by IPMI.
   */
  tlsFingerprint?: string | null;
}

/** What a BMC presents that can be pinned: the TLS certificate's fingerprint (Redfish), null for IPMI. */
export interface BmcIdentity {
  tlsFingerprint: string | null;
}

export interface PowerDriver {
  /**
   * The chassis power state. A state the BMC does not report as on or off, or an error answer,
   * throws (bmc_power_unknown, bmc_unreachable, …): an unknown state is never "off".
   */
  status(bmc: BmcTarget): Promise<PowerState>;
  /** First contact: what the BMC presents, to pin (Redfish: its certificate; IPMI: nothing). */
  identify?(bmc: BmcTarget): Promise<BmcIdentity>;
  on(bmc: BmcTarget): Promise<void>;
  /** Immediate power off (not `reset`). */
  off(bmc: BmcTarget): Promise<void>;
  /** ACPI soft power off: the OS shuts down, then the machine is off. Poll status to see it. */
  soft(bmc: BmcTarget): Promise<void>;
  bootDevice(bmc: BmcTarget, device: 'pxe' | 'disk'): Promise<void>;
}

// ---- Shell (SSH) --------------------------------------------------------------------------------

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  privateKey: string;
  /** SHA256 fingerprint pinned at registration ("SHA256:…"); null = first contact, pin what is seen. */
  pinnedFingerprint: string | null;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Most bytes this command may print on stdout (and, separately, on stderr): a read sized to what it
   * can legitimately print. A command that prints more is stopped and the exec fails with the
   * retryable `output_truncated`: a cut output is never returned. Without it the session's limit
   * trims the output (noted at its end) and the command runs to its end.
   */
  maxOutputBytes?: number;
}

export interface ShellSession {
  /** The host key fingerprint the server presented (and that was verified against the pin). */
  readonly hostKeyFingerprint: string;
  /** Runs a command; a non-zero exit is returned, not thrown (use `run` for that). */
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  /** Runs a command and throws DriverError(command_failed) on a non-zero exit. */
  run(command: string, options?: ExecOptions): Promise<string>;
  close(): void;
}

export interface ShellDriver {
  connect(target: SshTarget, options?: { signal?: AbortSignal; readyTimeoutMs?: number }): Promise<ShellSession>;
}

// ---- Ceph ---------------------------------------------------------------------------------------

export type CephHealth = 'HEALTH_OK' | 'HEALTH_WARN' | 'HEALTH_ERR';

export interface CephOsd {
  id: number;
  host: string;
  up: boolean;
  in: boolean;
  crush_weight: number;
  reweight: number;
  pgs: number;
  device_class?: string;
  /** The block device behind the OSD (e.g. nvme0n1), where Ceph reports it. */
  device?: string;
  /**
   * Bytes the OSD stores (`ceph osd df` kb_used × 1024: data, omap and BlueStore metadata) and its
   * size in bytes (kb × 1024). Ceph reports 0 for both while the OSD is out.
   */
  used_bytes: number;
  size_bytes: number;
}

/** One health check Ceph raises (`ceph health detail`): AUTH_INSECURE_SERVICE_KEY_TYPE, OSD_DOWN, … */
export interface CephHealthCheck {
  code: string;
  severity: 'HEALTH_WARN' | 'HEALTH_ERR';
  /** Ceph's one-line summary ("5 auth service entities with insecure key types"). */
  summary: string;
}

export interface CephStatus {
  health: CephHealth;
  /** The health checks behind `health`, sorted by code (empty when HEALTH_OK). */
  checks: CephHealthCheck[];
  osds_total: number;
  osds_up: number;
  osds_in: number;
  pgs_total: number;
  /** PGs whose state is exactly active+clean. */
  pgs_active_clean: number;
  /**
   * PGs as settled as they can be with some OSDs down: active, and neither peering, recovering,
   * backfilling, remapped nor waiting to (only active, clean, undersized, degraded). What an upgrade
   * around a host in maintenance waits for (issue 13 #1). Absent where a reader does not count it.
   */
  pgs_settled?: number;
  mgr_available: boolean;
  mons_in_quorum: string[];
  mons_total: number;
  /**
   * OSD map flags in effect: cluster-wide ones (routine feature flags such as sortbitwise left out)
   * plus any set on a CRUSH node or device class, e.g. "noout" while a host carries it (nooutHosts()
   * says which). Sorted, no duplicates.
   */
  flags: string[];
  /**
   * Raw capacity as the mgr's PG map sums it over the OSDs (`ceph status` pgmap bytes_total,
   * bytes_used, bytes_avail): every copy counts, so used is what the data takes with replication.
   * null when the status does not carry them.
   */
  bytes_total: number | null;
  bytes_used: number | null;
  bytes_avail: number | null;
}

export interface OkToStop {
  ok: boolean;
  reason: string | null;
}

/**
 * The Ceph driver is composed of one group of operations per concern; each group is implemented
 * once for the sandbox (drivers/sandbox/sandbox-ceph-<concern>.ts) and once over the CLI
 * (drivers/real/ceph-cli-<concern>.ts), so that concerns can grow independently.
 */
export interface CephDriver extends CephCoreOps, CephLifecycleOps, CephPoolOps, CephReweightOps, CephUpgradeOps {}

/** A host as the orchestrator knows it, with its CRUSH location above the host bucket. */
export interface CephHostSpec {
  hostname: string;
  /** Address the orchestrator reaches the host on (the node's ip_address). */
  address: string;
  rack: string | null;
  zone: string | null;
}

export type CrushFailureDomain = 'host' | 'rack' | 'zone';

/** A block device of a host as the orchestrator sees it (`ceph orch device ls`). */
export interface CephDevice {
  host: string;
  /** Kernel name without /dev/ (e.g. sdb, nvme0n1). */
  device: string;
  /** False for the boot disk (partitions, a filesystem), a device already holding an OSD (LVM), … */
  available: boolean;
  rejected_reasons: string[];
}

export interface CephCrushRule {
  id: number;
  name: string;
  /** The bucket type the rule chooses leaves across (chooseleaf … type <failure_domain>). */
  failure_domain: string;
}

export interface CephDaemons {
  /** Hosts running a mon / mgr daemon, sorted. */
  mons: string[];
  mgrs: string[];
}

/** Cluster creation, import and deletion (bootstrap, hosts, mons, mgrs, OSDs, CRUSH rules, zap). */
export interface CephLifecycleOps {
  /**
   * `cephadm bootstrap` on the admin node (the CephTarget's host), named `host`. Idempotent: a
   * node that already runs this cluster answers with its fsid.
   */
  bootstrap(input: {
    host: string;
    address: string;
    cephVersion: string;
    replication: number;
  }): Promise<{ fsid: string }>;
  /**
   * Import: the cluster the admin node already belongs to, from now on reached under this cluster
   * id. Live: `ceph fsid` on the admin node (nothing changes on the cluster). Sandbox: the simulated
   * cluster running on the admin machine that no NodeFoundry cluster manages is taken over.
   * Fails with command_failed when the admin node runs no cluster (`ceph fsid` cannot read a config).
   */
  adopt(): Promise<{ fsid: string }>;
  /** `ceph orch host add`; idempotent. */
  addHost(host: CephHostSpec): Promise<void>;
  /** Host names the orchestrator manages, sorted. */
  hosts(): Promise<string[]>;
  /** `ceph orch apply mon|mgr --placement=<hosts>`. */
  placeDaemons(type: 'mon' | 'mgr', hosts: string[]): Promise<void>;
  /** Running mon and mgr daemons, read back from the orchestrator. */
  daemons(): Promise<CephDaemons>;
  /** `ceph orch device ls <host>`. */
  devices(host: string): Promise<CephDevice[]>;
  /** `ceph orch daemon add osd host:/dev/x`; idempotent (an OSD already on the device is returned). */
  createOsd(host: string, device: string): Promise<{ osd_id: number }>;
  /** Moves host buckets under their rack/zone buckets (failure domains above host). */
  setCrushLocation(host: CephHostSpec): Promise<void>;
  /** `ceph osd crush rule create-replicated <name> default <failure_domain>`; idempotent. */
  createCrushRule(name: string, failureDomain: CrushFailureDomain): Promise<void>;
  crushRules(): Promise<CephCrushRule[]>;
  /**
   * Stops and removes every Ceph daemon of the cluster on one host (`cephadm rm-cluster --force`).
   * Idempotent: a host without the cluster's daemons is a no-op.
   */
  removeHostDaemons(host: string, fsid: string | null): Promise<void>;
  /**
   * The devices that hold an OSD of this cluster on the host, as Ceph on that host knows them
   * (`cephadm ceph-volume --fsid <fsid> -- lvm list`): still answers after `removeHostDaemons`.
   * Empty without an fsid (the bootstrap never finished).
   */
  osdDevicesOn(host: string, fsid: string | null): Promise<string[]>;
  /** Wipes OSD devices of a host (`ceph-volume lvm zap --destroy`); idempotent. */
  zapDevices(host: string, fsid: string | null, devices: string[]): Promise<void>;
  /** Forgets the cluster once every host is clean (the sandbox drops its simulated cluster). */
  purgeCluster(): Promise<void>;
  /**
   * Disk replacement, first half: the OSD's daemon on `host` is stopped and disabled (where the
   * host answers) and `ceph osd destroy N --yes-i-really-mean-it` forgets its keys while keeping
   * its id and CRUSH position (state `destroyed`), read back from the OSD map. Idempotent.
   */
  destroyOsd(host: string, osdId: number): Promise<void>;
  /**
   * Disk replacement, second half: the new device is zapped and the destroyed OSD recreated on it
   * with the same id, started, and read back (`ceph osd metadata` names host and device).
   * Idempotent (an OSD N already on the device is left alone); refuses a device holding another
   * OSD of the cluster.
   */
  recreateOsd(host: string, device: string, osdId: number): Promise<void>;
}

export interface CephPool {
  id: number;
  name: string;
  type: 'replicated' | 'erasure';
  size: number;
  min_size: number;
  pg_num: number;
  crush_rule_id: number;
  erasure_profile: string | null;
  applications: string[];
  pg_autoscale_mode: 'on' | 'off' | 'warn';
}

export interface CephErasureProfile {
  name: string;
  k: number;
  m: number;
  failure_domain: string | null;
}

export interface CephPoolCreate {
  name: string;
  type: 'replicated' | 'erasure';
  pg_num: number;
  /** Replicated pools: the CRUSH rule (by name). Erasure pools get a rule made from their profile. */
  crush_rule: string | null;
  erasure_profile: string | null;
}

/** Pools and erasure-code profiles. */
export interface CephPoolOps {
  pools(): Promise<CephPool[]>;
  /**
   * `ceph osd pool create`. Ceph exits 0 when the pool exists whatever its settings (LAB.md):
   * callers read the pool back and compare.
   */
  createPool(spec: CephPoolCreate): Promise<void>;
  /** `ceph osd pool set <pool> size|min_size|pg_autoscale_mode <value>`. */
  setPool(name: string, key: 'size' | 'min_size' | 'pg_autoscale_mode' | 'crush_rule', value: string): Promise<void>;
  enableApplication(name: string, application: string): Promise<void>;
  /** `ceph osd erasure-code-profile set`; EPERM when a profile of that name differs. */
  setErasureProfile(profile: CephErasureProfile): Promise<void>;
  erasureProfile(name: string): Promise<CephErasureProfile | null>;
  /**
   * `mon_allow_pool_delete` as set in the mon section of the config database (`ceph config dump`),
   * or null when it is not set there: what deletePool must put back.
   */
  poolDeleteFlag(): Promise<string | null>;
  /**
   * `ceph osd pool rm <pool> <pool> --yes-i-really-really-mean-it`; idempotent. Deletion is allowed
   * for this one command (mon_allow_pool_delete true) unless it already was, then the mon setting is
   * put back exactly as `flagBefore` says (null: removed from the mon section again). Without
   * `flagBefore` it is read first in the same session.
   */
  deletePool(name: string, flagBefore?: string | null): Promise<void>;
}
/** OSD CRUSH weights, drains, backfill, safe-to-destroy. */
export interface CephReweightOps {
  /** `ceph osd crush reweight osd.N <w>`: w in TiB (the device size is an OSD's full weight). */
  crushReweight(osdId: number, weight: number): Promise<void>;
  /**
   * Where the OSDs' PGs are, read after flushing PG stats (`ceph tell osd.N flush_pg_stats`, then
   * `ceph osd last-stat-seq` ≥ seq), with `pg_temp` from the OSD map: counts Ceph's 5 s stats lag
   * cannot fake.
   */
  pgPlacement(osdIds: number[]): Promise<CephPgPlacement>;
  /** `ceph osd safe-to-destroy`, parsed (the JSON form exits 0 even when not safe). */
  safeToDestroy(osdIds: number[]): Promise<CephSafeToDestroy>;
  /**
   * `ceph config set osd osd_crush_initial_weight <w>` (null: `ceph config rm`): the CRUSH weight a
   * new OSD takes when it first boots, so an added host's OSDs can come up holding no data (issue 13
   * expansion). Optional: a driver without it (the sandbox) has the OSD set to 0 right after creation.
   */
  setOsdInitialWeight?(weight: number | null): Promise<void>;
  /**
   * `ceph osd purge osd.N --yes-i-really-mean-it` (out of CRUSH, auth and the OSD map). The OSD's
   * daemon must be stopped; an OSD Ceph no longer knows is already purged (idempotent).
   */
  purgeOsd(osdId: number): Promise<void>;
  /** `ceph osd crush remove <host>`: the host's CRUSH bucket, which must hold no OSD. Idempotent. */
  removeCrushHost(host: string): Promise<void>;
}

export interface CephOsdPlacement {
  osd_id: number;
  /** PGs whose up or acting set holds the OSD. */
  pgs: number;
  /** CRUSH weight now, TiB. */
  crush_weight: number;
  /** The device's size in TiB: the CRUSH weight ceph-volume gave the OSD (its full weight). */
  device_weight: number;
}

export interface CephPgPlacement {
  osds: CephOsdPlacement[];
  pgs_total: number;
  /** PGs exactly active+clean. */
  pgs_active_clean: number;
  /** pg_temp entries in the OSD map: PGs still served from where they were (backfill not done). */
  pg_temp: number;
  /** PG states with counts (e.g. active+remapped+backfilling). */
  states: { state: string; count: number }[];
  /**
   * PGs holding one of the asked OSDs whose CRUSH up set cannot be filled (contains 2147483647,
   * CRUSH_ITEM_NONE, or is shorter than the pool's size): too few failure domains, the data can never
   * leave. At most 20 pg ids.
   */
  unplaceable: string[];
}

export interface CephSafeToDestroy {
  safe: number[];
  /** Why the others are not (still active, PGs stored, stats missing), or null. */
  reason: string | null;
}
/** Daemon versions, rolling restarts and upgrades, autoscale freeze, mgr failover, mon ok-to-stop. */
export interface CephUpgradeOps {
  /** `ceph versions`: daemon counts per version string, per daemon type and overall. */
  versions(): Promise<CephVersionCounts>;
  /** Every mon, mgr and OSD daemon with its host and running version (`ceph <type> metadata`). */
  daemonVersions(): Promise<CephDaemonVersion[]>;
  /** The active mgr and its standbys (`ceph mgr dump`). */
  mgrMap(): Promise<CephMgrMap>;
  /** `ceph mgr fail`: the active mgr steps down and a standby takes over. */
  failMgr(): Promise<void>;
  /** `ceph mon ok-to-stop <id>`: whether the other mons keep quorum without this one. */
  monOkToStop(host: string): Promise<OkToStop>;
  /**
   * Freezes (or releases) PG autoscaling, pool by pool: the modes of the pools that autoscale are
   * recorded in the cluster first (config-key `nodefoundry/autoscale-frozen`), then set to off;
   * release restores them. Never the global `noautoscale` flag, which Pacific releases by turning
   * every pool on (docs/upgrades.md).
   */
  setNoAutoscale(on: boolean): Promise<void>;
  /** Whether autoscaling is frozen: the record exists, or the global flag is on. */
  noAutoscale(): Promise<boolean>;
  /**
   * Upgrades (or, in restart mode, restarts) the mon or mgr daemon on `host`. Idempotent: call it
   * until `done`; a daemon already running `spec.version` is left alone in upgrade mode.
   */
  redeployDaemon(type: 'mon' | 'mgr', host: string, spec: CephUpgradeSpec): Promise<{ done: boolean }>;
  /** Stops the host's OSD daemons for an upgrade (they are marked down; noout keeps them in). */
  stopHostOsds(host: string, osdIds: number[]): Promise<void>;
  /**
   * Installs the target Ceph packages on `host` (and OS packages when asked) while its OSDs are
   * stopped. Idempotent: call it until `done`; `rebootRequired` says whether the host must reboot.
   */
  upgradeHost(host: string, spec: CephUpgradeSpec): Promise<{ done: boolean; rebootRequired: boolean }>;
  /** Starts the host's OSD daemons again (a running one is left alone). */
  startHostOsds(host: string, osdIds: number[]): Promise<void>;
  /**
   * `ceph osd require-osd-release <release>` (the upgrade's last step, once every OSD runs it), then
   * the OSD map's require_osd_release read back. Idempotent; Ceph refuses while an up OSD runs an
   * older release, and refuses to lower it.
   */
  requireOsdRelease(release: string): Promise<{ release: string }>;
}

/** What an upgrade or rolling restart installs: a Ceph release name ("squid") or a version ("19.2.2"). */
export interface CephUpgradeSpec {
  version: string;
  mode: 'upgrade' | 'restart';
  osPackages: boolean;
}

/** `ceph versions -f json`: `{ mon: { "<ceph version …>": count }, …, overall: {…} }`. */
export interface CephVersionCounts {
  mon: Record<string, number>;
  mgr: Record<string, number>;
  osd: Record<string, number>;
  overall: Record<string, number>;
}

export interface CephDaemonVersion {
  type: 'mon' | 'mgr' | 'osd';
  /** The daemon's name: the mon/mgr id, or the OSD number as a string. */
  id: string;
  host: string;
  /** "18.2.4". */
  version: string;
  /** "reef". */
  release: string;
}

export interface CephMgrMap {
  active: string | null;
  standbys: string[];
  available: boolean;
}

export interface CephCoreOps {
  status(): Promise<CephStatus>;
  osds(): Promise<CephOsd[]>;
  okToStop(osdIds: number[]): Promise<OkToStop>;
  setGroupNoout(host: string): Promise<void>;
  unsetGroupNoout(host: string): Promise<void>;
  /** Hosts (CRUSH nodes) that carry the noout flag right now, read back from the cluster. */
  nooutHosts(): Promise<string[]>;
  stopOsds(host: string, osdIds: number[]): Promise<void>;
  startOsds(host: string, osdIds: number[]): Promise<void>;
}

/** How activities reach a cluster's Ceph: the admin node's shell (real) or the simulator (sandbox). */
export interface CephTarget {
  clusterId: string;
  admin: SshTarget;
  /** How the cluster is deployed (default `packages`): picks the deployer's commands. */
  deployment?: 'packages' | 'cephadm';
  /** The cluster's fsid when known (cephadm unit names). */
  fsid?: string | null;
  /**
   * false: reads take the mgr's PG statistics as they stand (at most the mgr's stats period old)
   * instead of first having every OSD flush them (`tell osd.* flush_pg_stats`). The cluster monitor
   * reads this way: a round every interval must not make every OSD of a large cluster flush. Gates
   * that decide on PG state (ok-to-stop, drains, settling) keep the default (fresh).
   */
  freshPgStats?: boolean;
}

// ---- A set of drivers for one environment -------------------------------------------------------

export interface DriverSet {
  power: PowerDriver;
  shell: ShellDriver;
  ceph(target: CephTarget): CephDriver;
}

export interface DriverRegistry {
  /** Live drivers, or the sandbox datacenter of one account. */
  for(environment: 'live' | 'sandbox', accountId: string): DriverSet;
}
