import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeBody, startTestApi, type TestApi } from '../helpers/api';
import { generateSshKey } from '../helpers/ssh-keys';

/**
 * Issue 8 #8 (two records must never drive one machine) and #9 (registration must not be a port
 * scanner), over the real API with live and sandbox keys of several accounts. No worker.
 */
let t: TestApi;
/** The same app with NF_ALLOW_LOCAL_ADDRESSES=true, as the lab runs it. */
let lab: TestApi;
const { privateKey } = generateSshKey();
// Live addresses are unique across accounts and the database lives for the whole run: a /16 of our own.
const net16 = `${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 256)}`;
let seq = 0;
const fresh = () => {
  seq += 1;
  return { ip: `10.${net16}.${seq}`, ipmi: `11.${net16}.${seq}` };
};
const body = (a: { ip: string; ipmi: string }, extra: Record<string, unknown> = {}) =>
  nodeBody(privateKey, { ip_address: a.ip, ipmi_address: a.ipmi, ...extra });

beforeAll(async () => {
  t = await startTestApi();
  lab = await startTestApi({ NF_ALLOW_LOCAL_ADDRESSES: 'true' });
});
afterAll(async () => {
  await lab?.close();
  await t?.close();
});

describe('one live record per machine (issue 8 #8)', () => {
  it("folds IPv4-mapped IPv6, ignores the port, and never names the other tenant's node", async () => {
    const a = await t.newAccount();
    const b = await t.newAccount();
    const addr = fresh();
    const first = await t.request('POST', '/v1/nodes', { key: a.keys.live, body: body(addr) });
    expect(first.status).toBe(202);

    const attempts: [Record<string, unknown>, string][] = [
      [body({ ip: `::ffff:${addr.ip}`, ipmi: fresh().ipmi }), 'ip_address'],
      [body({ ip: `::FFFF:${addr.ip}`, ipmi: fresh().ipmi }), 'ip_address'],
      [body({ ip: addr.ip, ipmi: fresh().ipmi }, { ssh_port: 2222 }), 'ip_address'],
      [body({ ip: fresh().ip, ipmi: addr.ipmi }, { ipmi_port: 624 }), 'ipmi_address'],
      [body({ ip: fresh().ip, ipmi: `::ffff:${addr.ipmi}` }), 'ipmi_address'],
    ];
    for (const [attempt, field] of attempts) {
      for (const key of [b.keys.live, a.keys.live]) {
        const r = await t.request('POST', '/v1/nodes', { key, body: attempt });
        expect([r.status, r.body.error.code, r.body.error.field]).toEqual([409, 'address_in_use', field]);
        if (key === b.keys.live) {
          expect(r.body.error.node_id).toBeUndefined();
          expect(r.text).not.toContain(first.body.data.id);
        } else {
          expect(r.body.error.node_id).toBe(first.body.data.id);
        }
      }
    }
    // A mapped address is stored, shown and compared as the IPv4 it is.
    const other = fresh();
    const mapped = await t.request('POST', '/v1/nodes', {
      key: a.keys.live,
      body: body({ ip: `::ffff:${other.ip}`, ipmi: `::ffff:${other.ipmi}` }),
    });
    expect(mapped.status).toBe(202);
    expect([mapped.body.data.ip_address, mapped.body.data.ipmi_address]).toEqual([other.ip, other.ipmi]);
    const n = await t.db
      .selectFrom('nodes')
      .select(['ip_address', 'ipmi_address'])
      .where('id', '=', mapped.body.data.id)
      .executeTakeFirstOrThrow();
    expect(n).toEqual({ ip_address: other.ip, ipmi_address: other.ipmi });
  });

  it('holds across API processes: concurrent registrations of one machine on two ports → one 202, the rest 409', async () => {
    const accounts = [await t.newAccount(), await t.newAccount(), await t.newAccount()];
    const addr = fresh();
    const answers = await Promise.all(
      accounts.flatMap((acct, i) => [
        (i % 2 === 0 ? t : lab).request('POST', '/v1/nodes', {
          key: acct.keys.live,
          body: body({ ip: addr.ip, ipmi: fresh().ipmi }, { ssh_port: 22 + i }),
        }),
        (i % 2 === 0 ? lab : t).request('POST', '/v1/nodes', {
          key: acct.keys.live,
          body: body({ ip: fresh().ip, ipmi: addr.ipmi }, { ipmi_port: 623 + i }),
        }),
      ]),
    );
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 202).length).toBeLessThanOrEqual(2);
    expect(statuses.every((s) => s === 202 || s === 409)).toBe(true);
    const rows = await t.db
      .selectFrom('nodes')
      .select('id')
      .where('address_scope', '=', 'live')
      .where((eb) => eb.or([eb('ip_address', '=', addr.ip), eb('ipmi_address', '=', addr.ipmi)]))
      .execute();
    // At most one record per address: the host address once, the BMC address once.
    const hosts = await t.db
      .selectFrom('nodes')
      .select('id')
      .where('address_scope', '=', 'live')
      .where('ip_address', '=', addr.ip)
      .execute();
    const bmcs = await t.db
      .selectFrom('nodes')
      .select('id')
      .where('address_scope', '=', 'live')
      .where('ipmi_address', '=', addr.ipmi)
      .execute();
    expect(hosts.length).toBe(1);
    expect(bmcs.length).toBe(1);
    expect(rows.length).toBeLessThanOrEqual(2);
  });

  it("sandbox: one account's simulated datacenter follows the same rule; another account's is its own", async () => {
    const a = await t.newAccount();
    const b = await t.newAccount();
    const addr = fresh();
    expect((await t.request('POST', '/v1/nodes', { key: a.keys.test, body: body(addr) })).status).toBe(202);
    const again = await t.request('POST', '/v1/nodes', {
      key: a.keys.test,
      body: body({ ip: addr.ip, ipmi: fresh().ipmi }, { ssh_port: 2222 }),
    });
    expect([again.status, again.body.error.code]).toEqual([409, 'address_in_use']);
    expect((await t.request('POST', '/v1/nodes', { key: b.keys.test, body: body(addr) })).status).toBe(202);
  });
});

describe('registration is no port scanner (issue 8 #9)', () => {
  const forbidden: [string, 'ip_address' | 'ipmi_address'][] = [
    ['127.0.0.1', 'ip_address'],
    ['127.8.9.10', 'ipmi_address'],
    ['::1', 'ip_address'],
    ['::ffff:127.0.0.1', 'ip_address'],
    ['169.254.169.254', 'ipmi_address'],
    ['169.254.10.1', 'ip_address'],
    ['fd00:ec2::254', 'ip_address'],
    ['fe80::1', 'ipmi_address'],
    ['0.0.0.0', 'ip_address'],
    ['::', 'ipmi_address'],
    ['224.0.0.1', 'ip_address'],
    ['ff02::1', 'ipmi_address'],
    ['255.255.255.255', 'ipmi_address'],
  ];

  it('a live key cannot register loopback, link-local, metadata, unspecified, multicast or broadcast addresses; nothing is written', async () => {
    const a = await t.newAccount();
    for (const [address, field] of forbidden) {
      const addr = fresh();
      const r = await t.request('POST', '/v1/nodes', {
        key: a.keys.live,
        body: body({ ...addr, [field === 'ip_address' ? 'ip' : 'ipmi']: address }),
      });
      expect([address, r.status, r.body.error.code, r.body.error.field]).toEqual([
        address,
        400,
        'address_not_allowed',
        field,
      ]);
    }
    const ops = await t.db.selectFrom('operations').select('id').where('account_id', '=', a.accountId).execute();
    expect(ops).toEqual([]);
  });

  it('a sandbox key may (nothing is contacted), and so may a live key where NF_ALLOW_LOCAL_ADDRESSES is set (the lab)', async () => {
    const a = await t.newAccount();
    const sandbox = await t.request('POST', '/v1/nodes', {
      key: a.keys.test,
      body: body({ ip: '127.0.0.1', ipmi: '169.254.169.254' }),
    });
    expect(sandbox.status).toBe(202);
    const b = await lab.newAccount();
    // Loopback machines of a lab share one host and are told apart by port.
    const one = await lab.request('POST', '/v1/nodes', {
      key: b.keys.live,
      body: body({ ip: '127.0.0.1', ipmi: '127.0.0.1' }, { ssh_port: 40000 + seq, ipmi_port: 41000 + seq }),
    });
    expect(one.status).toBe(202);
    const two = await lab.request('POST', '/v1/nodes', {
      key: b.keys.live,
      body: body({ ip: '127.0.0.1', ipmi: '127.0.0.1' }, { ssh_port: 40001 + seq, ipmi_port: 41001 + seq }),
    });
    expect(two.status).toBe(202);
    const same = await lab.request('POST', '/v1/nodes', {
      key: b.keys.live,
      body: body({ ip: '127.0.0.1', ipmi: '127.0.0.2' }, { ssh_port: 40000 + seq }),
    });
    expect([same.status, same.body.error.code, same.body.error.field]).toEqual([409, 'address_in_use', 'ip_address']);
    // Clean up the live loopback records: live addresses are shared by the whole test run.
    for (const r of [one, two]) await lab.db.deleteFrom('nodes').where('id', '=', r.body.data.id).execute();
  });
});
