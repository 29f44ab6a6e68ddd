/**
 * `--break <invariant>`: after quiesce, deliberately leaves one thing behind the way a bug would,
 * through the same sandbox interfaces the worker uses, so a run can show that it fails and names
 * the invariant.
 */
import type { Db } from '../../db/database';
import { createSandboxPowerDriver } from '../../drivers/sandbox';
import { newId } from '../../lib/ids';
import { cephOf } from './evidence';
import type { Invariant } from './invariants';
import type { ChaosWorld } from './setup';

export const BREAKS: Partial<Record<Invariant, (db: Db, world: ChaosWorld) => Promise<string>>> = {
  noout: async (db, world) => {
    const c = world.clusters[0]!;
    await (await cephOf(db, world, c.id))!.setGroupNoout(c.nodes[1]!.hostname);
    return `set noout on ${c.nodes[1]!.hostname}`;
  },
  machines_on: async (db, world) => {
    const n = world.clusters[0]!.nodes.at(-1)!;
    await createSandboxPowerDriver(db, world.accountId).off({
      address: n.ipmi_address,
      port: 623,
      username: 'admin',
      password: 'pw',
    });
    return `powered ${n.hostname} off`;
  },
  osds_up: async (db, world) => {
    const c = world.clusters[0]!;
    const host = c.nodes[2]!.hostname;
    const ceph = (await cephOf(db, world, c.id))!;
    const ids = (await ceph.osds()).filter((o) => o.host === host).map((o) => o.id);
    await ceph.stopOsds(host, ids.slice(0, 1));
    return `stopped osd.${ids[0]} on ${host}`;
  },
  crush_weights: async (db, world) => {
    const c = world.clusters[0]!;
    const ceph = (await cephOf(db, world, c.id))!;
    const osd = (await ceph.osds())[0]!;
    await ceph.crushReweight(osd.id, Math.round(osd.crush_weight * 0.5 * 1e5) / 1e5);
    return `halved osd.${osd.id}'s CRUSH weight`;
  },
  autoscale: async (db, world) => {
    await (await cephOf(db, world, world.clusters[0]!.id))!.setNoAutoscale(true);
    return 'froze PG autoscaling';
  },
  locks: async (db, world) => {
    const op = await db
      .selectFrom('operations')
      .select('id')
      .where('account_id', '=', world.accountId)
      .executeTakeFirst();
    if (!op) throw new Error('no operation to hold a lock');
    await db
      .insertInto('operation_locks')
      .values({ resource_id: world.clusters[0]!.nodes[0]!.id, operation_id: op.id })
      .execute();
    return `left a lock on ${world.clusters[0]!.nodes[0]!.id} held by ${op.id}`;
  },
  idempotency: async (db, world) => {
    const op = await db
      .selectFrom('operations')
      .selectAll()
      .where('account_id', '=', world.accountId)
      .where('status', '=', 'completed')
      .executeTakeFirst();
    if (!op) throw new Error('no completed operation to double');
    const id = newId('operation');
    await db
      .insertInto('operations')
      .values({
        ...op,
        id,
        workflow_id: `${op.workflow_id}-again`,
        steps: JSON.stringify(op.steps),
        logs: JSON.stringify(op.logs),
        params: JSON.stringify(op.params),
        error: JSON.stringify(op.error),
        result: JSON.stringify(op.result),
      })
      .execute();
    return `recorded a second operation ${id} for request ${op.request_id}`;
  },
  terminal: async (db, world) => {
    const op = await db
      .selectFrom('operations')
      .select('id')
      .where('account_id', '=', world.accountId)
      .where('status', '=', 'completed')
      .executeTakeFirst();
    if (!op) throw new Error('no completed operation');
    await db
      .updateTable('operations')
      .set({ status: 'in_progress', completed_at: null })
      .where('id', '=', op.id)
      .execute();
    return `set ${op.id} back to in_progress`;
  },
};
