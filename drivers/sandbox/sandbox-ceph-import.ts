/**
 * Clusters NodeFoundry did not create, in the sandbox: `POST /v1/sandbox/ceph-clusters` starts a
 * simulated Ceph on registered sandbox machines without any NodeFoundry cluster (an "existing"
 * cluster, as a user with a live datacenter would have), and `adopt()` — what the import runs — takes
 * it over under the importing cluster's id.
 *
 * Such a cluster is stored like every simulated cluster, in sandbox_ceph, under a key no cluster row
 * has (`unmanaged_…`). A failed import leaves the cluster it adopted under the id of a cluster row
 * that is gone again: that one is unmanaged too, and the next import can adopt it.
 */
import { sql } from 'kysely';
import type { Db } from '../../db/database';
import { json } from '../../db/database';
import { ulidBody } from '../../lib/ids';
import { FAILURE } from '../../lib/failures';
import { DriverError } from '../types';
import { createSandboxCephCluster, type SandboxCephState } from './sandbox-ceph-state';
import { findByIp, machineCondition } from './sandbox-machines';
import type { SandboxCephContext } from './sandbox-ceph-state';

export interface SeedUnmanagedInput {
  accountId: string;
  /** In order; mons go on the first three hosts, mgrs on the first two. */
  hosts: { hostname: string; ipmiAddress: string; osdDevices: string[] }[];
  cephVersion: string;
  replication: number;
}

/** Starts an unmanaged simulated cluster; returns its fsid. */
export async function seedUnmanagedSandboxCluster(
  db: Db,
  input: SeedUnmanagedInput,
  speed = 1,
): Promise<{ fsid: string; key: string }> {
  const key = `unmanaged_${ulidBody()}`;
  const state = await createSandboxCephCluster(
    db,
    {
      accountId: input.accountId,
      clusterId: key,
      hosts: input.hosts,
      replication: input.replication,
      minSize: input.replication - Math.floor(input.replication / 2),
      cephVersion: input.cephVersion,
    },
    speed,
  );
  return { fsid: state.fsid, key };
}

/** The sandbox's `adopt()`: the cluster already under this id, else the unmanaged one on the admin machine. */
export async function adoptSandboxCluster(
  ctx: Pick<SandboxCephContext, 'db' | 'accountId' | 'target' | 'now'>,
): Promise<{ fsid: string }> {
  const { db, accountId, target } = ctx;
  const admin = await findByIp(db, accountId, target.admin.host);
  if (!admin || !machineCondition(admin, ctx.now()).running) {
    throw new DriverError(FAILURE.sshUnreachable, `ssh ${target.admin.host}: admin node unreachable`, true);
  }
  return db.transaction().execute(async (trx) => {
    const own = await trx
      .selectFrom('sandbox_ceph')
      .select('state')
      .where('cluster_id', '=', target.clusterId)
      .executeTakeFirst();
    if (own) {
      const s = own.state as SandboxCephState;
      if (s.account_id !== accountId)
        throw new DriverError(FAILURE.cephUnavailable, `no Ceph cluster ${target.clusterId} in this sandbox`, false);
      return { fsid: s.fsid };
    }
    // Unmanaged: no cluster row has its key. Locked, so two imports cannot both take it.
    const rows = await trx
      .selectFrom('sandbox_ceph')
      .select(['cluster_id', 'state'])
      .where(sql<boolean>`state->>'account_id' = ${accountId}`)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(selectFrom('clusters').select('clusters.id').whereRef('clusters.id', '=', 'sandbox_ceph.cluster_id')),
        ),
      )
      .orderBy('cluster_id')
      .forUpdate()
      .execute();
    const found = rows.find((r) =>
      (r.state as SandboxCephState).hosts.some((h) => h.ipmi_address === admin.ipmi_address),
    );
    if (!found) {
      throw new DriverError(
        FAILURE.commandFailed,
        `ceph fsid on ${target.admin.host}: Error initializing cluster client: ObjectNotFound('RADOS object not found (error calling conf_read_file)') — no Ceph cluster runs on this node`,
        false,
      );
    }
    const state = found.state as SandboxCephState;
    state.cluster_id = target.clusterId;
    await trx
      .updateTable('sandbox_ceph')
      .set({ cluster_id: target.clusterId, state: json(state), updated_at: new Date() })
      .where('cluster_id', '=', found.cluster_id)
      .execute();
    return { fsid: state.fsid };
  });
}
