import type { CephUpgradeOps } from '../types';
import type { CephCliContext } from './ceph-cli';

/** CephUpgradeOps over the ceph CLI on the admin node (see CephCliContext). */
export function createCephCliUpgradeOps(_ctx: CephCliContext): CephUpgradeOps {
  return {};
}
