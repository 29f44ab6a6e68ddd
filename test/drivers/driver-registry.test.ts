import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/database';
import { createDriverRegistry } from '../../drivers';
import type { SshTarget } from '../../drivers/types';
import { createTestAccount, testDb } from '../helpers/db';
import { generateSshKey } from '../helpers/ssh-keys';
import { rack } from './sandbox-helpers';

let db: Db;
let dir: string;

beforeAll(() => {
  db = testDb();
  dir = mkdtempSync(path.join(os.tmpdir(), 'nf-registry-'));
});
afterAll(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const config = (ipmitoolPath = '/nonexistent/ipmitool') => ({ ipmitoolPath, sshReadyTimeoutMs: 1_000 });

describe('driver registry', () => {
  it('gives each sandbox account its own datacenter', async () => {
    const a = await createTestAccount(db);
    const b = await createTestAccount(db);
    const { bmc } = await rack(db, a, 0);
    const registry = createDriverRegistry({ db, config: config() });
    expect(await registry.for('sandbox', a).power.status(bmc)).toBe('on');
    await expect(registry.for('sandbox', b).power.status(bmc)).rejects.toMatchObject({ type: 'bmc_unreachable' });
  });

  it('live power runs the configured ipmitool', async () => {
    const fake = path.join(dir, 'ipmitool');
    writeFileSync(fake, '#!/bin/sh\necho "Chassis Power is off"\n');
    chmodSync(fake, 0o755);
    const live = createDriverRegistry({ db, config: config(fake) }).for('live', 'acct_x');
    expect(await live.power.status({ address: '10.0.0.1', port: 623, username: 'u', password: 'p' })).toBe('off');
    const missing = createDriverRegistry({ db, config: config() }).for('live', 'acct_x');
    await expect(
      missing.power.status({ address: '10.0.0.1', port: 623, username: 'u', password: 'p' }),
    ).rejects.toMatchObject({
      type: 'ipmitool_missing',
    });
  });

  it('live Ceph reaches OSD hosts through resolveHost, and says so when it is not configured', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const nowhere: SshTarget = {
      host: '127.0.0.1',
      port,
      username: 'nf',
      privateKey: generateSshKey().privateKey,
      pinnedFingerprint: null,
    };

    const bare = createDriverRegistry({ db, config: config() })
      .for('live', 'acct_x')
      .ceph({ clusterId: 'clus_1', admin: nowhere });
    await expect(bare.stopOsds('storage-02', [3])).rejects.toMatchObject({ type: 'internal_error', retryable: false });

    const asked: [string, string][] = [];
    const registry = createDriverRegistry({
      db,
      config: config(),
      resolveHost: async (clusterId, hostname) => {
        asked.push([clusterId, hostname]);
        return nowhere;
      },
    });
    const ceph = registry.for('live', 'acct_x').ceph({ clusterId: 'clus_1', admin: nowhere });
    await expect(ceph.startOsds('storage-02', [3])).rejects.toMatchObject({ type: 'ssh_unreachable', retryable: true });
    expect(asked).toEqual([['clus_1', 'storage-02']]);
    // Everything else goes to the admin node.
    await expect(ceph.status()).rejects.toMatchObject({ type: 'ssh_unreachable' });
    expect(asked).toHaveLength(1);
  });
});
