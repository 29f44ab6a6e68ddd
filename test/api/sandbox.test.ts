import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandboxPowerDriver } from '../../drivers/sandbox';
import { nodeBody, startTestApi, type TestApi } from '../helpers/api';
import { generateSshKey } from '../helpers/ssh-keys';

let api: TestApi;
let node: any;
let body: Record<string, unknown>;

beforeAll(async () => {
  api = await startTestApi();
  body = nodeBody(generateSshKey().privateKey);
  node = (await api.request('POST', '/v1/nodes', { body })).body.data;
});
afterAll(async () => api?.close());

describe('/v1/sandbox/machines', () => {
  it('shows the simulated machine behind a sandbox node, and its power log as the BMC saw it', async () => {
    const r = await api.request('GET', `/v1/sandbox/machines/${node.id}`);
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({
      node_id: node.id,
      hostname: node.hostname,
      ipmi_address: node.ipmi_address,
      power_state: 'on',
      running: true,
      faults: [],
      power_log: [],
    });
    const power = createSandboxPowerDriver(api.db, api.account.accountId);
    const bmc = { address: node.ipmi_address, port: 623, username: 'admin', password: String(body.ipmi_password) };
    await power.off(bmc);
    await power.on(bmc);
    const after = (await api.request('GET', `/v1/sandbox/machines/${node.id}`)).body.data;
    expect(after.power_log.map((e: any) => e.action)).toEqual(['off', 'on']);
    for (const e of after.power_log) expect(Date.parse(e.at)).not.toBeNaN();
    expect(JSON.stringify(after)).not.toContain(String(body.ipmi_password));
  });

  it('injects and clears faults with PUT .../faults', async () => {
    const set = await api.request('PUT', `/v1/sandbox/machines/${node.id}/faults`, {
      body: { faults: { no_boot: true, bmc_unreachable: false } },
    });
    expect(set.status).toBe(200);
    expect(set.body.data.faults).toEqual(['no_boot']);
    expect((await api.request('GET', `/v1/sandbox/machines/${node.id}`)).body.data.faults).toEqual(['no_boot']);
    const power = createSandboxPowerDriver(api.db, api.account.accountId);
    await api.request('PUT', `/v1/sandbox/machines/${node.id}/faults`, { body: { faults: { bmc_unreachable: true } } });
    const bmc = { address: node.ipmi_address, port: 623, username: 'admin', password: String(body.ipmi_password) };
    await expect(power.status(bmc)).rejects.toMatchObject({ type: 'bmc_unreachable' });
    const cleared = await api.request('PUT', `/v1/sandbox/machines/${node.id}/faults`, { body: { faults: {} } });
    expect(cleared.body.data.faults).toEqual([]);
    expect(await power.status(bmc)).toBe('on');
  });

  it('rejects unknown faults, naming the field', async () => {
    const r = await api.request('PUT', `/v1/sandbox/machines/${node.id}/faults`, {
      body: { faults: { meltdown: true } },
    });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'validation_error', field: 'faults.meltdown' });
    const notBool = await api.request('PUT', `/v1/sandbox/machines/${node.id}/faults`, {
      body: { faults: { no_boot: 'yes' } },
    });
    expect(notBool.body.error.field).toBe('faults.no_boot');
  });

  it('does not exist for live keys (404), and a live node is not a sandbox machine', async () => {
    const live = await api.request('GET', `/v1/sandbox/machines/${node.id}`, { key: api.account.keys.live });
    expect(live.status).toBe(404);
    expect(live.body.error.code).toBe('route_not_found');
    const put = await api.request('PUT', `/v1/sandbox/machines/${node.id}/faults`, {
      key: api.account.keys.live,
      body: { faults: {} },
    });
    expect(put.status).toBe(404);
    const liveNode = (
      await api.request('POST', '/v1/nodes', {
        key: api.account.keys.live,
        body: nodeBody(generateSshKey().privateKey),
      })
    ).body.data;
    const r = await api.request('GET', `/v1/sandbox/machines/${liveNode.id}`);
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('node_not_found');
  });
});
