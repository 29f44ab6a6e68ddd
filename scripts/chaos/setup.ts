/**
 * The world a chaos run acts on: a fresh PostgreSQL database next to DATABASE_URL's (dropped at the
 * end), an enterprise account (never rate limited) with a sandbox key, and sandbox clusters built
 * the way test/workflows/upgrade-fixtures.ts builds them (machines racked, node rows as registration
 * leaves them, the simulated Ceph created, OSD rows as a state refresh writes them).
 */
import pg from 'pg';
import { createDb, json, type Db } from '../../db/database';
import { migrateToLatest } from '../../db/migrate';
import { createAccount } from '../../db/repositories/accounts.repository';
import { createApiKey } from '../../db/repositories/api-keys.repository';
import { addressScope } from '../../db/repositories/nodes.repository';
import { createSandboxCephCluster, rackSandboxMachine } from '../../drivers/sandbox';
import { newId } from '../../lib/ids';
import { encryptSecret } from '../../lib/secrets';
import type { ChaosSize } from './plan';

export interface ChaosNode {
  id: string;
  hostname: string;
  ip_address: string;
  ipmi_address: string;
}

export interface ChaosCluster {
  id: string;
  nodes: ChaosNode[];
  /** OSD id → its CRUSH weight at the start (the device's full weight, TiB). */
  initialWeights: Record<number, number>;
}

export interface ChaosWorld {
  accountId: string;
  key: string;
  clusters: ChaosCluster[];
}

export async function createDatabase(
  baseUrl: string,
  name: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const db = createDb(url.toString(), 2);
  await migrateToLatest(db);
  await db.destroy();
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export async function buildWorld(db: Db, secretKey: Buffer, size: ChaosSize, speed: number): Promise<ChaosWorld> {
  const account = await createAccount(db, { name: `chaos-${newId('account')}`, plan: 'enterprise' });
  const { secret } = await createApiKey(db, { accountId: account.id, kind: 'test', name: 'chaos' });
  const clusters: ChaosCluster[] = [];
  for (let c = 0; c < size.clusters; c++)
    clusters.push(await sandboxCluster(db, secretKey, account.id, c, size, speed));
  return { accountId: account.id, key: secret, clusters };
}

async function sandboxCluster(
  db: Db,
  secretKey: Buffer,
  accountId: string,
  c: number,
  size: ChaosSize,
  speed: number,
): Promise<ChaosCluster> {
  const clusterId = newId('cluster');
  const nodes: ChaosNode[] = [];
  const rows = [];
  for (let i = 0; i < size.hostsPerCluster; i++) {
    const hostname = `chaos${c + 1}-h${i + 1}`;
    const ip = `10.${c + 1}.0.${i + 1}`;
    const ipmi = `11.${c + 1}.0.${i + 1}`;
    const m = await rackSandboxMachine(
      db,
      { accountId, hostname, ipAddress: ip, ipmiAddress: ipmi, bmcUsername: 'admin', bmcPassword: 'pw' },
      speed,
    );
    const id = newId('node');
    nodes.push({ id, hostname, ip_address: ip, ipmi_address: ipmi });
    rows.push({
      id,
      account_id: accountId,
      environment: 'sandbox' as const,
      address_scope: addressScope('sandbox', accountId),
      hostname,
      ip_address: ip,
      ssh_user: 'nodefoundry',
      ssh_private_key_enc: encryptSecret(secretKey, 'sandbox-key'),
      ssh_host_key_fingerprint: m.host_key_fingerprint,
      ipmi_address: ipmi,
      ipmi_username: 'admin',
      ipmi_password_enc: encryptSecret(secretKey, 'pw'),
      status: 'online' as const,
      cpu_cores: m.cpu_cores,
      ram_gb: m.ram_gb,
      drives: json(m.drives),
      cluster_id: clusterId,
    });
  }
  await db
    .insertInto('clusters')
    .values({
      id: clusterId,
      account_id: accountId,
      environment: 'sandbox',
      name: `chaos-${c + 1}`,
      status: 'HEALTH_OK',
      ceph_version: 'reef',
      admin_node_id: nodes[0]!.id,
    })
    .execute();
  await db.insertInto('nodes').values(rows).execute();
  const state = await createSandboxCephCluster(
    db,
    {
      accountId,
      clusterId,
      hosts: rows.map((r) => ({
        hostname: r.hostname,
        ipmiAddress: r.ipmi_address,
        osdDevices: JSON.parse(r.drives)
          .slice(0, size.osdsPerHost)
          .map((d: { device: string }) => d.device),
      })),
      replication: 3,
      minSize: 2,
      cephVersion: 'reef',
    },
    speed,
  );
  const nodeOf = new Map(nodes.map((n) => [n.hostname, n.id]));
  await db
    .insertInto('osds')
    .values(
      state.osds.map((o) => ({
        cluster_id: clusterId,
        osd_id: o.id,
        node_id: nodeOf.get(o.host) ?? null,
        host: o.host,
        device: o.device,
        device_class: o.device_class,
        status: 'up' as const,
        in: true,
        crush_weight: o.crush_weight,
        reweight: 1,
        capacity_gb: Math.round((o.crush_weight * 2 ** 40) / 1e9),
      })),
    )
    .execute();
  await db.updateTable('clusters').set({ osd_count: state.osds.length }).where('id', '=', clusterId).execute();
  return { id: clusterId, nodes, initialWeights: Object.fromEntries(state.osds.map((o) => [o.id, o.crush_weight])) };
}
