/**
 * The sandbox datacenter's machines: one row per simulated server (BMC + host) in sandbox_machines,
 * per account. Time-dependent state (a boot finishing, a soft power-off completing) is never driven
 * by timers: rows store when things started and every read derives the state at "now". So a worker
 * restart loses nothing, and any number of processes see the same machine.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { Db, SandboxMachine } from '../../db/database';
import { json } from '../../db/database';
import { operationIdOfWorkflowOrParent } from '../../db/repositories/operations.repository';
import { ulidBody } from '../../lib/ids';
import { hardwareFor } from './sandbox-hardware';

export const SANDBOX_FAULTS = [
  /** The BMC does not answer: every power call fails with bmc_unreachable. */
  'bmc_unreachable',
  /** The BMC rejects any credentials: bmc_auth_failed. */
  'bmc_auth_fail',
  /**
   * The BMC answers a power-state read with an error (a Redfish 5xx, an IPMI reply that says
   * neither on nor off): every read fails with bmc_power_unknown (retried); commands still work.
   */
  'power_state_unknown',
  /** Boots started from now on never finish: SSH stays unreachable, OSDs stay down. A running OS keeps running. */
  'no_boot',
  /** The OS ignores ACPI soft power-off: the machine stays on. */
  'soft_off_ignored',
  /** The host presents a different SSH host key (reinstalled, or someone in the middle). */
  'host_key_changed',
  /** OSD daemons (re)started from now on never come up (at boot or by systemctl); running ones keep running. */
  'osds_stay_down',
  /** Ceph's daemons on the host will not die (one hung in the kernel): `cephadm rm-cluster` fails there, retryably. */
  'rm_cluster_fails',
  /**
   * Mons and mgrs placed on the host never come up (a mon that cannot join): `ceph` never reports
   * them running, so a placement onto the host waits until its bound or a cancel.
   */
  'mons_mgrs_stay_down',
] as const;
export type SandboxFault = (typeof SANDBOX_FAULTS)[number];

/** Nominal delays at speed 1, in ms (the order of magnitude of a real server). */
export const NOMINAL_BOOT_DELAY_MS = 30_000;
export const NOMINAL_SHUTDOWN_DELAY_MS = 10_000;

export interface SandboxClock {
  /** Milliseconds since the epoch; tests inject a controllable clock. Default Date.now. */
  now?: () => number;
}

export const clockOf = (options: SandboxClock | undefined): (() => number) => options?.now ?? Date.now;

/** Bad input to a sandbox administration function (unknown fault, invalid speed, …). */
export class SandboxInputError extends Error {
  override name = 'SandboxInputError';
}

export interface RackMachineInput {
  accountId: string;
  hostname: string;
  ipAddress: string;
  ipmiAddress: string;
  bmcUsername: string;
  bmcPassword: string;
}

/**
 * Puts a machine in the account's datacenter (called when a sandbox node is registered). Idempotent:
 * a machine is identified by its BMC address; racking it again updates its name, addresses and BMC
 * credentials (the registration is the datacenter's inventory sheet) and keeps its power state,
 * faults, host key and hardware. A new machine is on and booted.
 *
 * `speed` scales the boot and shutdown delays, which are stored already scaled: the machine row
 * says exactly how the machine behaves, so processes with different settings cannot disagree.
 */
export async function rackSandboxMachine(
  db: Db,
  input: RackMachineInput,
  speed: number,
  clock?: SandboxClock,
): Promise<SandboxMachineView> {
  if (!Number.isFinite(speed) || speed < 0) throw new SandboxInputError(`speed must be a number ≥ 0, got ${speed}`);
  const id = `sbm_${ulidBody()}`;
  const bootDelay = Math.round(NOMINAL_BOOT_DELAY_MS * speed);
  const hw = hardwareFor(input.hostname);
  const now = clockOf(clock)();
  const row = await db
    .insertInto('sandbox_machines')
    .values({
      id,
      account_id: input.accountId,
      ipmi_address: input.ipmiAddress,
      ip_address: input.ipAddress,
      hostname: input.hostname,
      bmc_username: input.bmcUsername,
      bmc_password_hash: hashBmcPassword(input.bmcPassword),
      host_key_fingerprint: hostKeyFingerprint(id, false),
      power_state: 'on',
      // Powered on one boot delay ago: racked machines are already up.
      power_changed_at: new Date(now - bootDelay),
      boot_delay_ms: bootDelay,
      shutdown_delay_ms: Math.round(NOMINAL_SHUTDOWN_DELAY_MS * speed),
      cpu_cores: hw.cpu_cores,
      ram_gb: hw.ram_gb,
      drives: json(hw.drives),
      faults: json({}),
    })
    .onConflict((oc) =>
      oc.columns(['account_id', 'ipmi_address']).doUpdateSet((eb) => ({
        hostname: eb.ref('excluded.hostname'),
        ip_address: eb.ref('excluded.ip_address'),
        bmc_username: eb.ref('excluded.bmc_username'),
        bmc_password_hash: eb.ref('excluded.bmc_password_hash'),
      })),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
  return viewOf(row, now);
}

/** The machine as the API and tests see it: stored facts plus the state derived at `now`. */
export interface SandboxMachineView {
  id: string;
  account_id: string;
  hostname: string;
  ip_address: string;
  ipmi_address: string;
  bmc_username: string;
  host_key_fingerprint: string;
  power_state: 'on' | 'off';
  power_changed_at: Date;
  /** A soft power-off is in progress (the OS is shutting down). */
  shutting_down: boolean;
  /** The OS is up: SSH answers and OSD daemons can run. */
  running: boolean;
  boot_delay_ms: number;
  shutdown_delay_ms: number;
  cpu_cores: number;
  ram_gb: number;
  drives: SandboxMachine['drives'];
  faults: SandboxFault[];
}

export async function getSandboxMachine(
  db: Db,
  accountId: string,
  ipmiAddress: string,
  clock?: SandboxClock,
): Promise<SandboxMachineView | null> {
  const row = await findByBmc(db, accountId, ipmiAddress);
  return row ? viewOf(row, clockOf(clock)()) : null;
}

export interface PowerEvent {
  action: string;
  at: Date;
  /** The operation that sent the command; null outside one (a test helper, an older row). */
  operation_id: string | null;
}

/** Every chassis command the machine's BMC accepted (on, off, soft, bootdev …), oldest first. */
export async function listPowerEvents(db: Db, accountId: string, ipmiAddress: string): Promise<PowerEvent[]> {
  return db
    .selectFrom('sandbox_power_events as e')
    .innerJoin('sandbox_machines as m', 'm.id', 'e.machine_id')
    .where('m.account_id', '=', accountId)
    .where('m.ipmi_address', '=', ipmiAddress)
    .orderBy('e.id')
    .select(['e.action', 'e.at', 'e.operation_id'])
    .execute();
}

export interface DeviceEvent {
  /** `zap`: the device was wiped (`ceph-volume lvm zap --destroy`). */
  action: string;
  device: string;
  cluster_id: string | null;
  operation_id: string | null;
  at: Date;
}

/** Every device wipe on the machine, oldest first. */
export async function listDeviceEvents(db: Db, accountId: string, hostname: string): Promise<DeviceEvent[]> {
  return db
    .selectFrom('sandbox_device_events as e')
    .innerJoin('sandbox_machines as m', 'm.id', 'e.machine_id')
    .where('m.account_id', '=', accountId)
    .where('m.hostname', '=', hostname)
    .orderBy('e.id')
    .select(['e.action', 'e.device', 'e.cluster_id', 'e.operation_id', 'e.at'])
    .execute();
}

/** The workflow id of the activity this code runs in, or null outside an activity. */
function currentWorkflowId(): string | null {
  try {
    return Context.current()?.info?.workflowExecution?.workflowId ?? null;
  } catch {
    return null;
  }
}

/**
 * The operation of the running activity's workflow: the account's operation whose workflow_id is
 * the workflow's id, or a prefix of it followed by "/" (an upgrade's host children are named
 * `<upgrade workflow id>/host/<host>`, contracts.upgradeHostWorkflowId). Null outside an activity.
 */
export async function currentOperationId(trx: Db, accountId: string): Promise<string | null> {
  const wf = currentWorkflowId();
  if (!wf) return null;
  return operationIdOfWorkflowOrParent(trx, accountId, wf);
}

export async function appendDeviceEvent(
  trx: Db,
  machine: { id: string; account_id: string },
  action: string,
  device: string,
  clusterId: string | null,
): Promise<void> {
  const operationId = await currentOperationId(trx, machine.account_id);
  await trx
    .insertInto('sandbox_device_events')
    .values({ machine_id: machine.id, action, device, cluster_id: clusterId, operation_id: operationId })
    .execute();
}

export function isSandboxFault(name: string): name is SandboxFault {
  return (SANDBOX_FAULTS as readonly string[]).includes(name);
}

/**
 * Replaces the machine's active faults: a list of names, or an object of name → on/off (`{}` or `[]`
 * clears them). Unknown names throw SandboxInputError. Null when there is no such machine.
 */
export async function setMachineFaults(
  db: Db,
  accountId: string,
  ipmiAddress: string,
  faults: readonly string[] | Readonly<Record<string, boolean>>,
  clock?: SandboxClock,
): Promise<SandboxMachineView | null> {
  const names = Array.isArray(faults)
    ? (faults as readonly string[])
    : Object.entries(faults as Record<string, boolean>)
        .filter(([, on]) => on === true)
        .map(([name]) => name);
  const unknown = (Array.isArray(faults) ? names : Object.keys(faults)).filter((f) => !isSandboxFault(f));
  if (unknown.length > 0) {
    throw new SandboxInputError(
      `unknown sandbox fault(s): ${unknown.join(', ')} (known: ${SANDBOX_FAULTS.join(', ')})`,
    );
  }
  // Each fault remembers when it was set: no_boot and osds_stay_down act on what starts after it.
  // Faults that stay set keep their time, so re-sending the same set changes nothing.
  return db.transaction().execute(async (trx) => {
    const m = await trx
      .selectFrom('sandbox_machines')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('ipmi_address', '=', ipmiAddress)
      .forUpdate()
      .executeTakeFirst();
    if (!m) return null;
    const at = new Date(clockOf(clock)()).toISOString();
    const stored = Object.fromEntries(
      [...new Set(names)].sort().map((f) => [f, typeof m.faults[f] === 'string' ? m.faults[f] : at]),
    );
    const row = await trx
      .updateTable('sandbox_machines')
      .set({ faults: json(stored) })
      .where('id', '=', m.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return viewOf(row, clockOf(clock)());
  });
}

// ---- internals shared by the sandbox drivers ------------------------------------------------------

export function findByBmc(db: Db, accountId: string, ipmiAddress: string): Promise<SandboxMachine | undefined> {
  return db
    .selectFrom('sandbox_machines')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('ipmi_address', '=', ipmiAddress)
    .executeTakeFirst();
}

/**
 * By IP address. The API keeps live node addresses unique, but a machine of a deleted node stays
 * racked; should a later registration reuse its IP, the newest machine is the one cabled to it.
 */
export function findByIp(db: Db, accountId: string, ipAddress: string): Promise<SandboxMachine | undefined> {
  return db
    .selectFrom('sandbox_machines')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('ip_address', '=', ipAddress)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export function hasFault(m: Pick<SandboxMachine, 'faults'>, fault: SandboxFault): boolean {
  return faultSince(m, fault) !== null;
}

/** When the fault was set (ms), or null when it is not set. */
export function faultSince(m: Pick<SandboxMachine, 'faults'>, fault: SandboxFault): number | null {
  const v = m.faults?.[fault];
  if (typeof v === 'string') return Date.parse(v);
  return v === true ? 0 : null;
}

export interface MachineCondition {
  power: 'on' | 'off';
  /** When the current power state began. */
  since: Date;
  /** A soft power-off is in flight; it started at `shutdownStartedAt`. */
  shuttingDown: boolean;
  shutdownStartedAt: Date | null;
  /** When the OS finished booting (null: off, still booting, or never boots). */
  bootedAt: Date | null;
  /** The OS is up and not shutting down: SSH answers, daemons run. */
  running: boolean;
}

/** The machine's state at `now`, with any soft power-off that has completed applied. */
export function machineCondition(m: SandboxMachine, now: number): MachineCondition {
  let power = m.power_state;
  let since = m.power_changed_at;
  let shuttingDown = false;
  let shutdownStartedAt: Date | null = null;
  if (m.pending_power && m.pending_power_at) {
    if (now >= m.pending_power_at.getTime()) {
      power = m.pending_power;
      since = m.pending_power_at;
    } else {
      shuttingDown = m.pending_power === 'off';
      shutdownStartedAt = new Date(m.pending_power_at.getTime() - m.shutdown_delay_ms);
    }
  }
  let bootedAt: Date | null = null;
  if (power === 'on') {
    const t = since.getTime() + m.boot_delay_ms;
    // A boot that had finished before no_boot was set stands; any later one hangs.
    const noBoot = faultSince(m, 'no_boot');
    if (now >= t && (noBoot === null || t <= noBoot)) bootedAt = new Date(t);
  }
  return { power, since, shuttingDown, shutdownStartedAt, bootedAt, running: bootedAt !== null && !shuttingDown };
}

/**
 * Locks the machine row for a state change. Completed pending transitions are written back first,
 * so the change starts from the machine's real state. Keep the transaction short: never wait in it.
 */
export async function lockMachine(trx: Db, machineId: string, now: number): Promise<SandboxMachine | undefined> {
  const m = await trx
    .selectFrom('sandbox_machines')
    .selectAll()
    .where('id', '=', machineId)
    .forUpdate()
    .executeTakeFirst();
  if (!m) return undefined;
  if (m.pending_power && m.pending_power_at && now >= m.pending_power_at.getTime()) {
    const done = {
      power_state: m.pending_power,
      power_changed_at: m.pending_power_at,
      pending_power: null,
      pending_power_at: null,
    };
    await trx.updateTable('sandbox_machines').set(done).where('id', '=', machineId).execute();
    return { ...m, ...done };
  }
  return m;
}

export async function appendPowerEvent(
  trx: Db,
  machine: { id: string; account_id: string },
  action: string,
  now: number,
): Promise<void> {
  const operationId = await currentOperationId(trx, machine.account_id);
  await trx
    .insertInto('sandbox_power_events')
    .values({ machine_id: machine.id, action, at: new Date(now), operation_id: operationId })
    .execute();
}

/**
 * The simulated host key's fingerprint, formatted like `ssh-keygen -l -E sha256` (unpadded base64).
 * Derived from the machine id, so it is stable for the machine's life; `host_key_changed` presents
 * another one.
 */
export function hostKeyFingerprint(machineId: string, changed: boolean): string {
  const digest = createHash('sha256')
    .update(`nodefoundry-sandbox-host-key:${machineId}${changed ? ':rekeyed' : ''}`)
    .digest('base64');
  return `SHA256:${digest.replace(/=+$/, '')}`;
}

export function presentedFingerprint(m: SandboxMachine): string {
  return hasFault(m, 'host_key_changed') ? hostKeyFingerprint(m.id, true) : m.host_key_fingerprint;
}

/**
 * The real password lives encrypted in the nodes table; the sandbox keeps only a salted hash. A
 * fast hash is enough here: this is a simulated BMC's check, not a login service.
 */
export function hashBmcPassword(password: string): string {
  const salt = randomBytes(16).toString('hex');
  return `sha256$${salt}$${createHash('sha256').update(`${salt}:${password}`).digest('hex')}`;
}

export function verifyBmcPassword(stored: string, password: string): boolean {
  const [scheme, salt, hash] = stored.split('$');
  if (scheme !== 'sha256' || !salt || !hash) return false;
  const actual = Buffer.from(createHash('sha256').update(`${salt}:${password}`).digest('hex'), 'hex');
  const expected = Buffer.from(hash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function viewOf(m: SandboxMachine, now: number): SandboxMachineView {
  const c = machineCondition(m, now);
  return {
    id: m.id,
    account_id: m.account_id,
    hostname: m.hostname,
    ip_address: m.ip_address,
    ipmi_address: m.ipmi_address,
    bmc_username: m.bmc_username,
    host_key_fingerprint: m.host_key_fingerprint,
    power_state: c.power,
    power_changed_at: c.since,
    shutting_down: c.shuttingDown,
    running: c.running,
    boot_delay_ms: m.boot_delay_ms,
    shutdown_delay_ms: m.shutdown_delay_ms,
    cpu_cores: m.cpu_cores,
    ram_gb: m.ram_gb,
    drives: m.drives,
    faults: SANDBOX_FAULTS.filter((f) => hasFault(m, f)),
  };
}
