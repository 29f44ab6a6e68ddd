import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSshKey } from '../helpers/ssh-keys';
import { startHarness, type Harness } from './cluster-harness';

/**
 * Issue 13 #5 over the real API + worker + Temporal + PostgreSQL with the sandbox drivers: a node
 * registers with `bmc: {protocol: "redfish", …}`; registration pins the certificate its BMC
 * presents (as the SSH host key); a fingerprint given at registration that the BMC does not present
 * fails the registration with bmc_certificate_mismatch (the sandbox BMC checks the pin as the real
 * driver does; that no credentials reach an impostor is test/unit/drivers-redfish-power.test.ts's); the seed's ipmi_*
 * fields keep registering IPMI nodes; both shapes at once are a 400 that creates nothing.
 */
let h: Harness;
const net = `10.${Math.floor(Math.random() * 200) + 20}.${Math.floor(Math.random() * 250)}`;
let seq = 0;
const privateKey = generateSshKey().privateKey;

const body = (bmc: Record<string, unknown> | null, extra: Record<string, unknown> = {}) => {
  seq += 1;
  return {
    hostname: `rf-${seq}`,
    ip_address: `${net}.${seq}`,
    ssh_user: 'nodefoundry',
    ssh_private_key: privateKey,
    ...(bmc
      ? {
          bmc: {
            address: `${net}.${100 + seq}`,
            username: 'administrator',
            password: `redfish-secret-${seq}-long-enough`,
            ...bmc,
          },
        }
      : {}),
    ...extra,
  };
};

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('nodes with a Redfish BMC (issue 13 #5)', () => {
  it('registers over Redfish: the certificate is pinned at first contact, port 443 by default, and power works through it', async () => {
    const r = await h.api('POST', '/v1/nodes', body({ protocol: 'redfish' }));
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body.data.bmc).toMatchObject({ protocol: 'redfish', port: 443, tls_fingerprint: null });
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect(op.status, JSON.stringify(op.error)).toBe('completed');
    const node = (await h.api('GET', `/v1/nodes/${r.body.data.id}`)).body.data;
    expect(node.status).toBe('ready');
    expect(node.bmc).toEqual({
      protocol: 'redfish',
      address: node.ipmi_address,
      port: 443,
      username: 'administrator',
      tls_fingerprint: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/),
    });
  });

  it('a fingerprint given at registration that the BMC does not present fails bmc_certificate_mismatch (never retried)', async () => {
    const wrong = Array.from({ length: 32 }, () => 'AB').join(':');
    const r = await h.api('POST', '/v1/nodes', body({ protocol: 'redfish', tls_fingerprint: wrong.toLowerCase() }));
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body.data.bmc.tls_fingerprint).toBe(wrong);
    const op = await h.waitForOperation(r.body.data.operation_id);
    expect([op.status, op.error?.code]).toEqual(['failed', 'bmc_certificate_mismatch']);
    const node = (await h.api('GET', `/v1/nodes/${r.body.data.id}`)).body.data;
    expect([node.status, node.bmc.tls_fingerprint]).toEqual(['error', wrong]);
    expect(node.status_reason).toMatch(/TLS certificate/);
  });

  it("the seed's ipmi_* fields still register an IPMI node; `bmc` without a protocol is IPMI on port 623", async () => {
    const seed = body(null, { ipmi_address: `${net}.200`, ipmi_username: 'admin', ipmi_password: 'ipmi-secret' });
    const a = await h.api('POST', '/v1/nodes', seed);
    expect(a.status, JSON.stringify(a.body)).toBe(202);
    expect(a.body.data.bmc).toEqual({
      protocol: 'ipmi',
      address: `${net}.200`,
      port: 623,
      username: 'admin',
      tls_fingerprint: null,
    });
    const b = await h.api('POST', '/v1/nodes', body({ username: 'admin', password: 'ipmi-2' }));
    expect(b.status, JSON.stringify(b.body)).toBe(202);
    expect(b.body.data).toMatchObject({ ipmi_port: 623, bmc: { protocol: 'ipmi', port: 623 } });
    for (const r of [a, b]) expect((await h.waitForOperation(r.body.data.operation_id)).status).toBe('completed');
  });

  it('both shapes at once, or a certificate for IPMI, is a 400 that creates nothing', async () => {
    const before = await h.db
      .selectFrom('nodes')
      .where('account_id', '=', h.accountId)
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    const both = await h.api('POST', '/v1/nodes', body({ protocol: 'redfish' }, { ipmi_address: `${net}.201` }));
    expect([both.status, both.body.error.code]).toEqual([400, 'validation_error']);
    const ipmiCert = await h.api(
      'POST',
      '/v1/nodes',
      body({ username: 'a', password: 'b', tls_fingerprint: Array.from({ length: 32 }, () => '0F').join(':') }),
    );
    expect([ipmiCert.status, ipmiCert.body.error.code]).toEqual([400, 'validation_error']);
    const after = await h.db
      .selectFrom('nodes')
      .where('account_id', '=', h.accountId)
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });
});
