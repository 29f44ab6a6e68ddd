/**
 * The sandbox datacenter (SPEC §5): simulated machines with BMCs and hosts, and simulated Ceph,
 * persisted in PostgreSQL. Drivers for activities, plus the administration and inspection functions
 * the API (registration, fault injection) and tests use.
 */
import type { Db } from '../../db/database';
import type { CephTarget, DriverSet } from '../types';
import { createSandboxCephDriver } from './sandbox-ceph.driver';
import type { SandboxClock } from './sandbox-machines';
import { createSandboxPowerDriver } from './sandbox-power.driver';
import { createSandboxShellDriver } from './sandbox-shell.driver';

export {
  rackSandboxMachine,
  getSandboxMachine,
  listPowerEvents,
  listDeviceEvents,
  setMachineFaults,
  isSandboxFault,
  SANDBOX_FAULTS,
  SandboxInputError,
  NOMINAL_BOOT_DELAY_MS,
  NOMINAL_SHUTDOWN_DELAY_MS,
  type SandboxFault,
  type SandboxMachineView,
  type PowerEvent,
  type DeviceEvent,
  type RackMachineInput,
  type SandboxClock,
} from './sandbox-machines';
export { seedUnmanagedSandboxCluster, type SeedUnmanagedInput } from './sandbox-ceph-import';
export { writeSandboxPoolData } from './sandbox-ceph-usage';
export { failSandboxOsdDrive } from './sandbox-ceph-state';
export {
  createSandboxCephCluster,
  getSandboxCephState,
  readSandboxCephState,
  removeSandboxCephCluster,
  moveSandboxOsd,
  NOMINAL_RECOVERY_DELAY_MS,
  NOMINAL_DOWN_OUT_INTERVAL_MS,
  type CreateSandboxCephInput,
  type SandboxCephState,
  type SandboxCephOsd,
  type SandboxCephHost,
} from './sandbox-ceph.driver';
export {
  setSandboxClusterFaults,
  SANDBOX_CLUSTER_FAULTS,
  type SandboxClusterFault,
  type SandboxUpgradeEvent,
  type SandboxUpgradeState,
} from './sandbox-ceph-upgrade';
export { createSandboxPowerDriver } from './sandbox-power.driver';
export { createSandboxShellDriver } from './sandbox-shell.driver';
export { createSandboxCephDriver } from './sandbox-ceph.driver';

/** The drivers of one account's sandbox datacenter. */
export function createSandboxDriverSet(db: Db, accountId: string, clock?: SandboxClock): DriverSet {
  return {
    power: createSandboxPowerDriver(db, accountId, clock),
    shell: createSandboxShellDriver(db, accountId, clock),
    ceph: (target: CephTarget) => createSandboxCephDriver(db, accountId, target, clock),
  };
}
