import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rackSandboxMachine } from '../../drivers/sandbox';
import { generateSshKey } from '../helpers/ssh-keys';
import { startHarness, type Harness } from './cluster-harness';

/**
 * Issue 8 #8: a machine reachable on two addresses (two NICs) must not be registered twice. The
 * host key is pinned during inventory; a second record whose host presents a key already pinned
 * for another node fails its registration with the typed failure host_key_in_use, pins nothing,
 * and does not name the other node. Real API + worker + Temporal + PostgreSQL, sandbox drivers.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('one record per SSH host key (issue 8 #8)', () => {
  it('a second registration of a machine already registered under another address fails host_key_in_use; the first is untouched', async () => {
    const first = await h.registerNode();
    expect(first.ssh_host_key_fingerprint).toMatch(/^SHA256:/);

    // The same machine's second NIC: another host address and BMC address, the same host key.
    const second = {
      ip: `10.250.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250) + 1}`,
      ipmi: `10.251.${Math.floor(Math.random() * 250)}.7`,
    };
    const m = await rackSandboxMachine(
      h.db,
      {
        accountId: h.accountId,
        hostname: 'ceph-second-nic',
        ipAddress: second.ip,
        ipmiAddress: second.ipmi,
        bmcUsername: 'admin',
        bmcPassword: 'bmc-secret-2nd',
      },
      0,
    );
    await h.db
      .updateTable('sandbox_machines')
      .set({ host_key_fingerprint: first.ssh_host_key_fingerprint })
      .where('id', '=', m.id)
      .execute();

    const r = await h.api('POST', '/v1/nodes', {
      hostname: 'ceph-second-nic',
      ip_address: second.ip,
      ipmi_address: second.ipmi,
      ipmi_username: 'admin',
      ipmi_password: 'bmc-secret-2nd',
      ssh_user: 'nodefoundry',
      ssh_private_key: generateSshKey().privateKey,
    });
    expect(r.status).toBe(202);
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status).toBe('failed');
    expect(op.error.code).toBe('host_key_in_use');
    expect(JSON.stringify(op)).not.toContain(first.id);

    const node = (await h.api('GET', `/v1/nodes/${r.body.data.id}`)).body.data;
    expect(node.status).toBe('error');
    expect(node.ssh_host_key_fingerprint).toBeNull();
    const before = (await h.api('GET', `/v1/nodes/${first.id}`)).body.data;
    expect([before.status, before.ssh_host_key_fingerprint]).toEqual(['ready', first.ssh_host_key_fingerprint]);
  });
});
