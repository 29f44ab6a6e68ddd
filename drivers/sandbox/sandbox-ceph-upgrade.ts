import type { CephUpgradeOps } from '../types';
import type { SandboxCephContext } from './sandbox-ceph.driver';

/** CephUpgradeOps of the simulated Ceph (see SandboxCephContext). */
export function createSandboxUpgradeOps(_ctx: SandboxCephContext): CephUpgradeOps {
  return {};
}
