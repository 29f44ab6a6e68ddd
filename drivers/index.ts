/**
 * The driver registry the worker builds once (STYLE 5) and activities pick from: real drivers for
 * the live environment, the account's simulated datacenter for the sandbox.
 */
import type { Db } from '../db/database';
import type { Config } from '../lib/config';
import { FAILURE } from '../lib/failures';
import { createCephCliDriver } from './real/ceph-cli';
import { createIpmiPowerDriver } from './real/ipmi-power';
import { createProtocolPowerDriver, createRedfishPowerDriver } from './real/redfish-power';
import { createSshShellDriver } from './real/ssh-shell';
import { createSandboxDriverSet } from './sandbox';
import type { SandboxClock } from './sandbox/sandbox-machines';
import { DriverError, type CephTarget, type DriverRegistry, type DriverSet, type SshTarget } from './types';

export interface DriverRegistryOptions {
  db: Db;
  config: Pick<Config, 'ipmitoolPath' | 'sshReadyTimeoutMs' | 'cephPackages'>;
  /**
   * Live Ceph only: how to SSH to an OSD host of a cluster, by its CRUSH host name, to run
   * systemctl there (stopOsds/startOsds). Typically: find the cluster's node with that hostname and
   * build its SshTarget with the decrypted key and pinned fingerprint, as for any node. Without it,
   * stopOsds/startOsds on live clusters fail with internal_error; everything else works.
   */
  resolveHost?: (clusterId: string, hostname: string) => Promise<SshTarget>;
  /** Live Ceph: run ceph/systemctl through `sudo -n` (SSH user is not root). */
  cephSudo?: boolean;
  /** Live Ceph: systemd unit of an OSD (default: the deployer's, `ceph-osd@N` or cephadm's `ceph-<fsid>@osd.N`). */
  osdUnit?: (osdId: number) => string;
  /** Sandbox only: a controllable clock for tests. */
  sandboxClock?: SandboxClock;
}

export function createDriverRegistry(options: DriverRegistryOptions): DriverRegistry {
  const { db, config } = options;
  // Each node's BMC is driven over its registered protocol (nodes.bmc_protocol, issue 13 #5).
  const power = createProtocolPowerDriver({
    ipmi: createIpmiPowerDriver({ ipmitoolPath: config.ipmitoolPath }),
    redfish: createRedfishPowerDriver(),
  });
  const shell = createSshShellDriver({ readyTimeoutMs: config.sshReadyTimeoutMs });
  const live: DriverSet = {
    power,
    shell,
    ceph(target: CephTarget) {
      return createCephCliDriver({
        adminShell: () => shell.connect(target.admin),
        hostShell: async (host) => {
          if (!options.resolveHost) {
            throw new DriverError(FAILURE.internal, `no resolveHost configured: cannot reach Ceph host ${host}`, false);
          }
          return shell.connect(await options.resolveHost(target.clusterId, host));
        },
        ...(options.cephSudo !== undefined ? { sudo: options.cephSudo } : {}),
        ...(options.osdUnit ? { osdUnit: options.osdUnit } : {}),
        deployment: target.deployment ?? 'packages',
        fsid: target.fsid ?? null,
        ...(target.freshPgStats === false ? { pgStatsFlushMs: 0 } : {}),
        ...(config.cephPackages ? { packages: config.cephPackages } : {}),
      });
    },
  };
  return {
    for(environment: 'live' | 'sandbox', accountId: string): DriverSet {
      // Sandbox driver sets are cheap (they hold only ids); the datacenter is in the database.
      return environment === 'live' ? live : createSandboxDriverSet(db, accountId, options.sandboxClock);
    },
  };
}

export { readInventory, type HostInventory } from './host-inventory';
export { DriverError } from './types';
export type * from './types';
