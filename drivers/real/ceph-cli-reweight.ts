import type { CephReweightOps } from '../types';
import type { CephCliContext } from './ceph-cli';

/** CephReweightOps over the ceph CLI on the admin node (see CephCliContext). */
export function createCephCliReweightOps(_ctx: CephCliContext): CephReweightOps {
  return {};
}
