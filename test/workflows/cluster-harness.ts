/**
 * A real API + worker + Temporal + PostgreSQL with the sandbox drivers, driven over HTTP with a
 * sandbox key, for the cluster and pool tests (the same setup as the node journey).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { expect } from 'vitest';
import { createApp } from '../../api/app';
import type { Db, Drive } from '../../db/database';
import { rackSandboxMachine } from '../../drivers/sandbox';
import type { Config } from '../../lib/config';
import { newId } from '../../lib/ids';
import { createLogger } from '../../lib/logger';
import { generateApiKey, hashApiKey } from '../../lib/secrets';
import type { RunningWorker } from '../../worker/main';
import { testConfig } from '../helpers/config';
import { createTestAccount, testDb } from '../helpers/db';
import { generateSshKey } from '../helpers/ssh-keys';
import { startTestWorker } from '../helpers/worker';

export interface Harness {
  db: Db;
  config: Config;
  client: Client;
  accountId: string;
  key: string;
  api(
    method: string,
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any }>;
  waitForOperation(id: string, until?: (op: any) => boolean): Promise<any>;
  registerNode(options?: { rack?: string; zone?: string; failDrive?: boolean }): Promise<any>;
  recordHistory(workflowId: string, name: string): Promise<void>;
  close(): Promise<void>;
}

// One /16 per harness, so files running in parallel never share addresses (the sandbox is per account anyway).
const net16 = `${Math.floor(Math.random() * 200) + 20}`;

export async function startHarness(overrides: Record<string, string> = {}): Promise<Harness> {
  const db = testDb();
  const config = testConfig(overrides);
  const worker: RunningWorker = await startTestWorker(config, db);
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const app = createApp({ db, temporal: client, config, logger: createLogger('silent') });
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const accountId = await createTestAccount(db);
  const key = generateApiKey('test');
  await db
    .insertInto('api_keys')
    .values({
      id: newId('key'),
      account_id: accountId,
      kind: 'test',
      name: 'clusters',
      hint: key.slice(0, 15),
      key_hash: hashApiKey(key),
    })
    .execute();
  const { privateKey } = generateSshKey();
  let seq = 0;

  const api: Harness['api'] = async (method, url, body, headers = {}) => {
    const res = await fetch(base + url, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };

  const waitForOperation: Harness['waitForOperation'] = async (
    id,
    until = (op) => ['completed', 'failed', 'cancelled'].includes(op.status),
  ) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await api('GET', `/v1/operations/${id}`);
      expect(r.status).toBe(200);
      if (until(r.body.data)) return r.body.data;
      if (Date.now() > deadline)
        throw new Error(`operation ${id} still ${r.body.data.status}: ${JSON.stringify(r.body.data)}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  };

  /** Registers a node and waits until it is ready; `failDrive` makes its last drive fail SMART first. */
  const registerNode: Harness['registerNode'] = async (options = {}) => {
    seq += 1;
    const body = {
      hostname: `ceph-${seq.toString().padStart(2, '0')}`,
      ip_address: `10.${net16}.1.${seq}`,
      ipmi_address: `10.${net16}.2.${seq}`,
      ipmi_username: 'admin',
      ipmi_password: `bmc-secret-${seq}`,
      ssh_user: 'nodefoundry',
      ssh_private_key: privateKey,
      ...(options.rack ? { rack: options.rack } : {}),
      ...(options.zone ? { zone: options.zone } : {}),
    };
    if (options.failDrive) {
      const m = await rackSandboxMachine(
        db,
        {
          accountId,
          hostname: body.hostname,
          ipAddress: body.ip_address,
          ipmiAddress: body.ipmi_address,
          bmcUsername: 'admin',
          bmcPassword: body.ipmi_password,
        },
        0,
      );
      const drives: Drive[] = m.drives.map((d, i) => (i === m.drives.length - 1 ? { ...d, smart_ok: false } : d));
      await db
        .updateTable('sandbox_machines')
        .set({ drives: JSON.stringify(drives) })
        .where('id', '=', m.id)
        .execute();
    }
    const r = await api('POST', '/v1/nodes', body);
    expect(r.status).toBe(202);
    expect((await waitForOperation(r.body.data.operation_id)).status).toBe('completed');
    return (await api('GET', `/v1/nodes/${r.body.data.id}`)).body.data;
  };

  const recordHistory: Harness['recordHistory'] = async (workflowId, name) => {
    if (process.env.NF_RECORD_HISTORIES !== '1') return;
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const dir = path.resolve(__dirname, '../replay/histories');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, `${name}.json`), JSON.stringify(JSON.parse(historyToJSON(history)), null, 1));
  };

  return {
    db,
    config,
    client,
    accountId,
    key,
    api,
    waitForOperation,
    registerNode,
    recordHistory,
    close: async () => {
      await new Promise((r) => server.close(r));
      await worker.shutdown();
      await connection.close();
      await db.destroy();
    },
  };
}

/** Switches a sandbox machine off (as if it had been left off in the rack). */
export async function powerOff(db: Db, accountId: string, ipmiAddress: string): Promise<void> {
  await db
    .updateTable('sandbox_machines')
    .set({ power_state: 'off', power_changed_at: new Date(), pending_power: null, pending_power_at: null })
    .where('account_id', '=', accountId)
    .where('ipmi_address', '=', ipmiAddress)
    .execute();
}

/** Switches a sandbox machine back on (it boots at once at speed 0), as if someone pressed the button. */
export async function powerOn(db: Db, accountId: string, ipmiAddress: string): Promise<void> {
  await db
    .updateTable('sandbox_machines')
    .set({ power_state: 'on', power_changed_at: new Date(), pending_power: null, pending_power_at: null })
    .where('account_id', '=', accountId)
    .where('ipmi_address', '=', ipmiAddress)
    .execute();
}

/**
 * Polls `probe` every 50 ms until it answers something truthy (a probe that throws counts as not yet,
 * its error quoted if the wait times out); at most `ms`. The monitor tests' one bounded wait.
 */
/** GET /v1/clusters/{id}/health's data, asserting a 200. */
export async function clusterHealth(h: Harness, clusterId: string): Promise<any> {
  const r = await h.api('GET', `/v1/clusters/${clusterId}/health`);
  expect(r.status).toBe(200);
  return r.body.data;
}

/** The codes of a health answer's checks, in its order. */
export const checkCodes = (hl: any): string[] => hl.checks.map((c: any) => c.code);

export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const v = await probe().catch((err: unknown) => {
      last = err;
      return undefined;
    });
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${String(last ?? '')})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
