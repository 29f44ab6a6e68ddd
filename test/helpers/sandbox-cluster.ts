import { expect } from 'vitest';
import { json, type Drive } from '../../db/database';
import { addressScope } from '../../db/repositories/nodes.repository';
import { createSandboxCephCluster, rackSandboxMachine } from '../../drivers/sandbox';
import { newId } from '../../lib/ids';
import { encryptSecret } from '../../lib/secrets';
import type { TestApi } from './api';

/**
 * Sandbox fixtures for the day-2 operation tests (expand, remove-host, replace-osd): a node with
 * its sandbox machine, and a cluster of such nodes with simulated Ceph, written straight to the
 * database as a created cluster leaves them (creation itself is tested in cluster-lifecycle).
 */
export interface SandboxNodeFixture {
  id: string;
  hostname: string;
  ip: string;
  ipmi: string;
  drives: Drive[];
}

/**
 * A node of the test API's default account with a powered-on sandbox machine (BMC password
 * `pw-<i>`). The sandbox derives drives from the hostname; `drives` replaces them (for figures that
 * need same-size drives).
 */
export async function sandboxNode(
  api: TestApi,
  o: {
    hostname: string;
    ip: string;
    ipmi: string;
    i: number;
    status: 'online' | 'ready';
    speed?: number;
    drives?: Drive[];
  },
): Promise<SandboxNodeFixture> {
  const { db, config } = api;
  const accountId = api.account.accountId;
  const password = `pw-${o.i}`;
  const m = await rackSandboxMachine(
    db,
    {
      accountId,
      hostname: o.hostname,
      ipAddress: o.ip,
      ipmiAddress: o.ipmi,
      bmcUsername: 'admin',
      bmcPassword: password,
    },
    o.speed ?? 0,
  );
  if (o.drives) {
    m.drives = o.drives;
    await db
      .updateTable('sandbox_machines')
      .set({ drives: json(m.drives) })
      .where('id', '=', m.id)
      .execute();
  }
  const id = newId('node');
  await db
    .insertInto('nodes')
    .values({
      id,
      account_id: accountId,
      environment: 'sandbox',
      address_scope: addressScope('sandbox', accountId),
      hostname: o.hostname,
      ip_address: o.ip,
      ssh_user: 'nodefoundry',
      ssh_private_key_enc: encryptSecret(config.secretKey, 'unused'),
      ssh_host_key_fingerprint: m.host_key_fingerprint,
      ipmi_address: o.ipmi,
      ipmi_username: 'admin',
      ipmi_password_enc: encryptSecret(config.secretKey, password),
      status: o.status,
      drives: json(m.drives),
    })
    .execute();
  return { id, hostname: o.hostname, ip: o.ip, ipmi: o.ipmi, drives: m.drives };
}

/**
 * A HEALTH_OK Reef cluster of `members` (size 3 / min_size 2; mons and mgrs as the sandbox places
 * them; admin node the first member) with OSDs on each member's first `osdsPerHost` drives, whose
 * Ceph backfills at `speed` (0 = instant). The members become `online`.
 */
export async function sandboxCluster(
  api: TestApi,
  o: { name: string; members: SandboxNodeFixture[]; osdsPerHost: number; speed: number },
): Promise<string> {
  const { db } = api;
  const accountId = api.account.accountId;
  const clusterId = newId('cluster');
  await db
    .insertInto('clusters')
    .values({
      id: clusterId,
      account_id: accountId,
      environment: 'sandbox',
      name: o.name,
      status: 'HEALTH_OK',
      ceph_version: 'reef',
      admin_node_id: o.members[0]!.id,
    })
    .execute();
  await db
    .updateTable('nodes')
    .set({ cluster_id: clusterId, status: 'online' })
    .where(
      'id',
      'in',
      o.members.map((x) => x.id),
    )
    .execute();
  await createSandboxCephCluster(
    db,
    {
      accountId,
      clusterId,
      hosts: o.members.map((x) => ({
        hostname: x.hostname,
        ipmiAddress: x.ipmi,
        osdDevices: x.drives.slice(0, o.osdsPerHost).map((d) => d.device),
      })),
      replication: 3,
      minSize: 2,
      cephVersion: 'reef',
    },
    o.speed,
  );
  return clusterId;
}

export const TERMINAL = ['completed', 'failed', 'cancelled'];

/**
 * Polls `GET /v1/operations/{id}` until `until` holds (default: a terminal status), within
 * `timeoutMs`; every progress value seen is pushed to `seen`.
 */
export async function waitForOperation(
  api: TestApi,
  id: string,
  o: { until?: (op: any) => boolean; timeoutMs?: number; seen?: number[] } = {},
): Promise<any> {
  const until = o.until ?? ((op: any) => TERMINAL.includes(op.status));
  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  for (;;) {
    const r = await api.request('GET', `/v1/operations/${id}`);
    expect(r.status).toBe(200);
    o.seen?.push(r.body.data.progress);
    if (until(r.body.data)) return r.body.data;
    if (Date.now() > deadline)
      throw new Error(`operation ${id} still ${r.body.data.status}: ${JSON.stringify(r.body.data)}`);
    await new Promise((res) => setTimeout(res, 40));
  }
}
