import type { CephReweightOps } from '../types';
import type { SandboxCephContext } from './sandbox-ceph.driver';

/** CephReweightOps of the simulated Ceph (see SandboxCephContext). */
export function createSandboxReweightOps(_ctx: SandboxCephContext): CephReweightOps {
  return {};
}
