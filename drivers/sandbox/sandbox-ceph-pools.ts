import type { CephPoolOps } from '../types';
import type { SandboxCephContext } from './sandbox-ceph.driver';

/** CephPoolOps of the simulated Ceph (see SandboxCephContext). */
export function createSandboxPoolOps(_ctx: SandboxCephContext): CephPoolOps {
  return {};
}
