import type { CephPoolOps } from '../types';
import type { CephCliContext } from './ceph-cli';

/** CephPoolOps over the ceph CLI on the admin node (see CephCliContext). */
export function createCephCliPoolOps(_ctx: CephCliContext): CephPoolOps {
  return {};
}
