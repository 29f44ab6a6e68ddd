import type { CephLifecycleOps } from '../types';
import type { SandboxCephContext } from './sandbox-ceph.driver';

/** CephLifecycleOps of the simulated Ceph (see SandboxCephContext). */
export function createSandboxLifecycleOps(_ctx: SandboxCephContext): CephLifecycleOps {
  return {};
}
