import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  createProtocolPowerDriver,
  createRedfishPowerDriver,
  mapRedfishPowerState,
  normalizeTlsFingerprint,
} from '../../drivers/real/redfish-power';
import type { BmcTarget, PowerDriver } from '../../drivers/types';

/**
 * The Redfish driver against a local HTTPS BMC fake (node:https with a self-signed certificate from
 * test/fixtures/tls): what it sends, how it pins the certificate and how it classifies failures.
 * The same cases against sushy-tools: test/drivers/redfish-sushy.test.ts. Integration tier (it listens on
 * loopback; the unit tier opens no connection), as test/drivers/ssh-shell.test.ts.
 */
const TLS = path.join(__dirname, '..', 'fixtures', 'tls');
const cert = (name: string) => ({
  key: readFileSync(path.join(TLS, `${name}.key`)),
  cert: readFileSync(path.join(TLS, `${name}.crt`)),
});
const fingerprintOf = (name: string) => new X509Certificate(cert(name).cert).fingerprint256;

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

interface FakeBmc {
  port: number;
  seen: Seen[];
  /** What GET of the system answers. */
  system: { status: number; body: unknown };
  systems: string[];
  close(): Promise<void>;
}

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function fakeBmc(certName = 'bmc-a'): Promise<FakeBmc> {
  const seen: Seen[] = [];
  const state: FakeBmc = {
    port: 0,
    seen,
    system: { status: 200, body: { Id: 'sys1', PowerState: 'On' } },
    systems: ['/redfish/v1/Systems/sys1'],
    close: async () => undefined,
  };
  const server: Server = createHttpsServer(cert(certName), (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `Basic ${Buffer.from('admin:s3cret').toString('base64')}`) {
        return send(401, { error: { message: 'Unauthorized' } });
      }
      if (req.method === 'GET' && req.url === '/redfish/v1/Systems') {
        return send(200, { Members: state.systems.map((id) => ({ '@odata.id': id })) });
      }
      if (req.method === 'GET' && req.url === '/redfish/v1/Systems/sys1')
        return send(state.system.status, state.system.body);
      if (req.method === 'POST' && req.url === '/redfish/v1/Systems/sys1/Actions/ComputerSystem.Reset') {
        res.writeHead(204);
        return res.end();
      }
      if (req.method === 'PATCH' && req.url === '/redfish/v1/Systems/sys1') return send(200, {});
      return send(404, { error: { message: 'not found' } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as AddressInfo).port;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  servers.push(state);
  return state;
}

const target = (port: number, extra: Partial<BmcTarget> = {}): BmcTarget => ({
  address: '127.0.0.1',
  port,
  username: 'admin',
  password: 's3cret',
  protocol: 'redfish',
  tlsFingerprint: fingerprintOf('bmc-a'),
  ...extra,
});

describe('Redfish power driver', () => {
  it('identify reads the certificate fingerprint openssl prints, without sending a request', async () => {
    const bmc = await fakeBmc();
    const fp = await createRedfishPowerDriver().identify!(target(bmc.port, { tlsFingerprint: null }));
    expect(fp.tlsFingerprint).toBe(fingerprintOf('bmc-a'));
    expect(fp.tlsFingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(bmc.seen).toEqual([]);
    // The forms an operator may paste are one fingerprint.
    const hex = fingerprintOf('bmc-a').replace(/:/g, '');
    expect(normalizeTlsFingerprint(`sha256 Fingerprint=${fingerprintOf('bmc-a')}`)).toBe(fingerprintOf('bmc-a'));
    expect(normalizeTlsFingerprint(hex.toLowerCase())).toBe(fingerprintOf('bmc-a'));
  });

  it('reads the power state with Basic credentials, and sends on/off/soft/boot device as Redfish actions', async () => {
    const bmc = await fakeBmc();
    const drv = createRedfishPowerDriver();
    expect(await drv.status(target(bmc.port))).toBe('on');
    bmc.system.body = { PowerState: 'Off' };
    expect(await drv.status(target(bmc.port))).toBe('off');
    await drv.on(target(bmc.port));
    await drv.off(target(bmc.port));
    await drv.soft(target(bmc.port));
    await drv.bootDevice(target(bmc.port), 'pxe');
    const writes = bmc.seen.filter((s) => s.method !== 'GET').map((s) => [s.method, s.url, JSON.parse(s.body)]);
    expect(writes).toEqual([
      ['POST', '/redfish/v1/Systems/sys1/Actions/ComputerSystem.Reset', { ResetType: 'On' }],
      ['POST', '/redfish/v1/Systems/sys1/Actions/ComputerSystem.Reset', { ResetType: 'ForceOff' }],
      ['POST', '/redfish/v1/Systems/sys1/Actions/ComputerSystem.Reset', { ResetType: 'GracefulShutdown' }],
      [
        'PATCH',
        '/redfish/v1/Systems/sys1',
        { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } },
      ],
    ]);
    // The system is looked up once per BMC, then remembered.
    expect(bmc.seen.filter((s) => s.url === '/redfish/v1/Systems')).toHaveLength(1);
  });

  it('a wrong password is bmc_auth_failed, never retried, with a fixed sentence', async () => {
    const bmc = await fakeBmc();
    const err = await createRedfishPowerDriver()
      .status(target(bmc.port, { password: 'wrong' }))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'bmc_auth_failed', retryable: false });
    expect(String((err as Error).message)).not.toContain('Unauthorized');
  });

  it('a certificate other than the pinned one is bmc_certificate_mismatch, and no request (no credentials) reaches it', async () => {
    const impostor = await fakeBmc('bmc-b');
    const drv = createRedfishPowerDriver();
    for (const call of [() => drv.status(target(impostor.port)), () => drv.off(target(impostor.port))]) {
      await expect(call()).rejects.toMatchObject({ type: 'bmc_certificate_mismatch', retryable: false });
    }
    expect(impostor.seen).toEqual([]);
  });

  it('without a pinned certificate, nothing is sent (registration pins first)', async () => {
    const bmc = await fakeBmc();
    await expect(createRedfishPowerDriver().status(target(bmc.port, { tlsFingerprint: null }))).rejects.toMatchObject({
      type: 'bmc_certificate_mismatch',
    });
    expect(bmc.seen).toEqual([]);
  });

  it('a dead BMC (connection refused) and a silent one (no TLS handshake) are bmc_unreachable, retried, within the bound', async () => {
    const bmc = await fakeBmc();
    const port = bmc.port;
    await bmc.close();
    servers.splice(servers.indexOf(bmc), 1);
    await expect(createRedfishPowerDriver().status(target(port))).rejects.toMatchObject({
      type: 'bmc_unreachable',
      retryable: true,
    });

    const sockets: Socket[] = [];
    const silent: TcpServer = createTcpServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    servers.push({
      close: () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          silent.close(() => r());
        }),
    });
    const started = Date.now();
    await expect(
      createRedfishPowerDriver({ requestTimeoutMs: 300 }).status(target((silent.address() as AddressInfo).port)),
    ).rejects.toMatchObject({ type: 'bmc_unreachable', retryable: true });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('an error answer to a power-state read, or a state neither on nor off, is bmc_power_unknown (retried), never off', async () => {
    const bmc = await fakeBmc();
    const drv = createRedfishPowerDriver();
    for (const system of [
      { status: 500, body: { error: { message: 'internal error' } } },
      { status: 503, body: null },
      { status: 404, body: { error: { message: 'gone' } } },
      { status: 200, body: { PowerState: null } },
      { status: 200, body: { PowerState: 'Unknown' } },
      { status: 200, body: {} },
    ]) {
      bmc.system = system;
      await expect(drv.status(target(bmc.port))).rejects.toMatchObject({ type: 'bmc_power_unknown', retryable: true });
    }
  });

  it('maps the Redfish power states: only Off is off', () => {
    expect(
      ['On', 'PoweringOff', 'PoweringOn', 'Paused', 'Off', 'Unknown', null, 'off'].map(mapRedfishPowerState),
    ).toEqual(['on', 'on', 'on', 'on', 'off', null, null, null]);
  });

  it('a BMC of several systems is refused (command_failed): which one is the node cannot be guessed', async () => {
    const bmc = await fakeBmc();
    bmc.systems = ['/redfish/v1/Systems/sys1', '/redfish/v1/Systems/sys2'];
    await expect(createRedfishPowerDriver().status(target(bmc.port))).rejects.toMatchObject({
      type: 'command_failed',
      retryable: false,
    });
  });

  it('the worker sends each target to the driver of its protocol, IPMI when none is said', async () => {
    const calls: string[] = [];
    const fake = (name: string): PowerDriver => ({
      status: async () => (calls.push(`${name}.status`), 'on'),
      on: async () => void calls.push(`${name}.on`),
      off: async () => void calls.push(`${name}.off`),
      soft: async () => void calls.push(`${name}.soft`),
      bootDevice: async () => void calls.push(`${name}.boot`),
    });
    const drv = createProtocolPowerDriver({ ipmi: fake('ipmi'), redfish: fake('redfish') });
    const base = { address: '10.0.0.1', port: 1, username: 'u', password: 'p' };
    await drv.status(base);
    await drv.off({ ...base, protocol: 'redfish' });
    await drv.on({ ...base, protocol: 'ipmi' });
    expect(calls).toEqual(['ipmi.status', 'redfish.off', 'ipmi.on']);
    expect(await drv.identify!(base)).toEqual({ tlsFingerprint: null });
  });
});

afterAll(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
