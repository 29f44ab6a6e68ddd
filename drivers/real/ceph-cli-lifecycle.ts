import type { CephLifecycleOps } from '../types';
import type { CephCliContext } from './ceph-cli';

/** CephLifecycleOps over the ceph CLI on the admin node (see CephCliContext). */
export function createCephCliLifecycleOps(_ctx: CephCliContext): CephLifecycleOps {
  return {};
}
