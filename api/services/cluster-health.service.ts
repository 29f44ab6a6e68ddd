import type { Cluster } from '../../db/database';
import { clusterHealthView } from '../../db/repositories/cluster-health.repository';
import type { ApiDeps } from '../context';

/** The cluster's health as the monitor last recorded it (docs/api.md §Cluster health); reads only PostgreSQL. */
export async function clusterHealth(deps: Pick<ApiDeps, 'db'>, c: Cluster): Promise<Record<string, unknown>> {
  return clusterHealthView(deps.db, c);
}
