import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createNodeActivities } from '../../activities/nodes.activities';
import type { Db } from '../../db/database';
import { createDriverRegistry } from '../../drivers';
import { createRedfishPowerDriver } from '../../drivers/real/redfish-power';
import type { BmcTarget, PowerState } from '../../drivers/types';
import { newId } from '../../lib/ids';
import { createLogger } from '../../lib/logger';
import { encryptSecret } from '../../lib/secrets';
import { testConfig } from '../helpers/config';
import { createTestAccount, testDb } from '../helpers/db';
import { spawnCollecting, waitFor, type Spawned } from '../helpers/spawned';

/**
 * The Redfish power driver against sushy-tools 2.2.0 (a Redfish BMC emulator, PyPI; its fake
 * driver, no libvirt), served over TLS with a self-signed certificate, on free ports: first contact
 * pins the certificate, then power status/on/off/soft and the boot device; a wrong password (fatal),
 * a dead BMC and a hung one (retried), a BMC that answers an error to the power-state read (unknown,
 * never "off"). The fake driver applies a power change 1–11 s after the command, on the next read,
 * and PUTs each change of its system to a hook (here a local HTTP server: the part ipmi_sim's chassis
 * hook plays in the IPMI lab). Which sushy-emulator: NF_SUSHY_EMULATOR_BIN, else the virtualenv
 * scripts/ensure-sushy-tools.sh installs (.ci/run and `npm test` run it); missing = a failure with
 * instructions, never a skip.
 */
const SUSHY_BIN =
  process.env.NF_SUSHY_EMULATOR_BIN ?? path.join(homedir(), '.cache/nodefoundry/venv-sushy/bin/sushy-emulator');
const TLS = path.join(__dirname, '..', 'fixtures', 'tls');
const CERT = path.join(TLS, 'bmc-a.crt');
const KEY = path.join(TLS, 'bmc-a.key');
const FINGERPRINT = new X509Certificate(readFileSync(CERT)).fingerprint256;
/** The fake driver applies a change after at most 11 s; the rest is a loaded machine's margin. */
const POWER_CHANGE_MS = 30_000;

interface Emulator {
  port: number;
  process: Spawned;
}

let dir: string;
const emulators: Emulator[] = [];
const hookPuts: { name: string; power_state: string }[] = [];
const hook = createServer((req: IncomingMessage, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'PUT') {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { name: string; power_state: string };
      hookPuts.push({ name: body.name, power_state: body.power_state });
    }
    res.writeHead(204);
    res.end();
  });
});

async function freePort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** One emulator (one BMC of one system), TLS with the fixture certificate, Basic auth from an htpasswd file. */
async function startEmulator(name: string, system: Record<string, unknown>): Promise<Emulator> {
  const port = await freePort();
  const python = path.join(path.dirname(SUSHY_BIN), 'python');
  const hash = execFileSync(python, [
    '-c',
    'import bcrypt,sys; print(bcrypt.hashpw(b"s3cret-pw", bcrypt.gensalt(4)).decode())',
  ])
    .toString()
    .trim();
  writeFileSync(path.join(dir, `${name}.htpasswd`), `admin:${hash}\n`);
  const hookPort = (hook.address() as AddressInfo).port;
  writeFileSync(
    path.join(dir, `${name}.conf`),
    [
      `SUSHY_EMULATOR_AUTH_FILE = ${JSON.stringify(path.join(dir, `${name}.htpasswd`))}`,
      `SUSHY_EMULATOR_STATE_DIR = ${JSON.stringify(path.join(dir, `${name}-state`))}`,
      `EXTERNAL_NOTIFICATION_URL = "http://127.0.0.1:${hookPort}/hook"`,
      `SUSHY_EMULATOR_FAKE_SYSTEMS = [${JSON.stringify({ name, nics: [], ...system }).replace(/\btrue\b/g, 'True')}]`,
      '',
    ].join('\n'),
  );
  const p = spawnCollecting(
    SUSHY_BIN,
    [
      '--fake',
      '--config',
      path.join(dir, `${name}.conf`),
      '-i',
      '127.0.0.1',
      '-p',
      String(port),
      '--ssl-certificate',
      CERT,
      '--ssl-key',
      KEY,
    ],
    { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } },
  );
  const e = { port, process: p };
  emulators.push(e);
  // Up when it completes a TLS handshake (identify reads the certificate and sends nothing).
  await waitFor(`sushy-emulator ${name} on port ${port}`, 60_000, async () => {
    if (p.exitCode !== undefined) throw new Error(`sushy-emulator exited (${p.exitCode}): ${p.out.slice(-2000)}`);
    try {
      return await createRedfishPowerDriver({ requestTimeoutMs: 2_000 }).identify!(
        target(port, { tlsFingerprint: null }),
      );
    } catch {
      return undefined;
    }
  });
  return e;
}

const target = (port: number, extra: Partial<BmcTarget> = {}): BmcTarget => ({
  address: '127.0.0.1',
  port,
  username: 'admin',
  password: 's3cret-pw',
  protocol: 'redfish',
  tlsFingerprint: FINGERPRINT,
  ...extra,
});

let healthy: Emulator;
let broken: Emulator;
let db: Db | undefined;

beforeAll(async () => {
  if (!existsSync(SUSHY_BIN)) {
    throw new Error(
      `sushy-tools is not installed at ${SUSHY_BIN}. Run \`bash scripts/ensure-sushy-tools.sh\` (.ci/run and npm test do), ` +
        'or point NF_SUSHY_EMULATOR_BIN at a sushy-emulator binary.',
    );
  }
  dir = mkdtempSync(path.join(tmpdir(), 'nf-sushy-'));
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  [healthy, broken] = await Promise.all([
    startEmulator('storage-rf-01', {
      uuid: '5d6c1f0e-4b59-4f0a-9a57-1f2c3b4d5e01',
      power_state: 'On',
      external_notifier: true,
    }),
    // A system the fake driver holds no power state for: its power-state read answers HTTP 500.
    startEmulator('storage-rf-02', { uuid: '5d6c1f0e-4b59-4f0a-9a57-1f2c3b4d5e02' }),
  ]);
});

afterAll(async () => {
  await db?.destroy();
  for (const e of emulators) {
    e.process.child.kill('SIGCONT');
    e.process.child.kill('SIGKILL');
  }
  await new Promise<void>((r) => (hook.listening ? hook.close(() => r()) : r()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function waitForPower(drv: ReturnType<typeof createRedfishPowerDriver>, bmc: BmcTarget, want: PowerState) {
  return waitFor(
    `power ${want}`,
    POWER_CHANGE_MS,
    async () => ((await drv.status(bmc)) === want ? true : undefined),
    300,
  );
}

describe('Redfish power driver against sushy-tools 2.2.0 (TLS, fake driver)', () => {
  it('pins the certificate at first contact, then reads and changes power: off, on, soft, boot device; the hook sees each change', async () => {
    const drv = createRedfishPowerDriver();
    const first = await drv.identify!(target(healthy.port, { tlsFingerprint: null }));
    expect(first.tlsFingerprint).toBe(FINGERPRINT);
    const bmc = target(healthy.port, { tlsFingerprint: first.tlsFingerprint });

    expect(await drv.status(bmc)).toBe('on');
    const offAt = Date.now();
    await drv.off(bmc);
    await waitForPower(drv, bmc, 'off');
    const offMs = Date.now() - offAt;
    await drv.on(bmc);
    await waitForPower(drv, bmc, 'on');
    await drv.soft(bmc);
    await waitForPower(drv, bmc, 'off');
    await drv.bootDevice(bmc, 'pxe');
    await drv.on(bmc);
    await waitForPower(drv, bmc, 'on');
    // Each state the machine reached was PUT to the hook, in order (pending changes are PUT too).
    const reached = hookPuts.filter((p) => p.name === 'storage-rf-01').map((p) => p.power_state);
    expect(reached.filter((s, i) => s !== reached[i - 1])).toEqual(['On', 'Off', 'On', 'Off', 'On']);
    console.info(`sushy fake driver: power off observed after ${offMs} ms`);
  });

  it('a wrong password is bmc_auth_failed (never retried); another certificate is bmc_certificate_mismatch', async () => {
    const drv = createRedfishPowerDriver();
    await expect(drv.status(target(healthy.port, { password: 'wrong' }))).rejects.toMatchObject({
      type: 'bmc_auth_failed',
      retryable: false,
    });
    const other = new X509Certificate(readFileSync(path.join(TLS, 'bmc-b.crt'))).fingerprint256;
    await expect(drv.off(target(healthy.port, { tlsFingerprint: other }))).rejects.toMatchObject({
      type: 'bmc_certificate_mismatch',
      retryable: false,
    });
  });

  it('an error answer to the power-state read is bmc_power_unknown (retried), never off', async () => {
    const err = await createRedfishPowerDriver()
      .status(target(broken.port))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'bmc_power_unknown', retryable: true });
    expect(String((err as Error).message)).toMatch(/HTTP 500/);
  });

  it('a hung BMC (stopped: no TLS handshake) and a dead one (gone) are bmc_unreachable, retried, within the bound', async () => {
    const drv = createRedfishPowerDriver({ requestTimeoutMs: 2_000 });
    broken.process.child.kill('SIGSTOP');
    const started = Date.now();
    await expect(drv.status(target(broken.port))).rejects.toMatchObject({ type: 'bmc_unreachable', retryable: true });
    expect(Date.now() - started).toBeLessThan(10_000);
    broken.process.child.kill('SIGCONT');
    broken.process.child.kill('SIGKILL');
    await waitFor('the stopped emulator to exit', 10_000, () =>
      broken.process.exitCode !== undefined ? true : undefined,
    );
    await expect(drv.status(target(broken.port))).rejects.toMatchObject({ type: 'bmc_unreachable', retryable: true });
  });
});

describe("registration's BMC check against sushy-tools: the worker's real drivers and PostgreSQL", () => {
  const config = testConfig();

  /** A live node row whose BMC is the healthy emulator (own address scope: loopback BMCs are unique per scope). */
  async function liveNode(bmc: { password?: string; tlsFingerprint?: string | null }): Promise<string> {
    db ??= testDb(2);
    const id = newId('node');
    await db
      .insertInto('nodes')
      .values({
        id,
        account_id: await createTestAccount(db),
        environment: 'live',
        address_scope: `test-${id}`,
        hostname: `rf-${id.slice(-6)}`,
        ip_address: '192.0.2.10',
        ssh_port: 22,
        ssh_user: 'root',
        ssh_private_key_enc: encryptSecret(config.secretKey, 'not a key: SSH is not used here'),
        ipmi_address: '127.0.0.1',
        ipmi_port: healthy.port,
        ipmi_username: 'admin',
        ipmi_password_enc: encryptSecret(config.secretKey, bmc.password ?? 's3cret-pw'),
        bmc_protocol: 'redfish',
        bmc_tls_fingerprint: bmc.tlsFingerprint ?? null,
        status: 'pending',
      })
      .execute();
    return id;
  }

  const checkBmc = (nodeId: string) => {
    const activities = createNodeActivities({
      db: db!,
      drivers: createDriverRegistry({ db: db!, config }),
      config,
      logger: createLogger('silent'),
    });
    return new MockActivityEnvironment().run(activities.checkBmc, { nodeId });
  };
  const pinned = async (id: string) =>
    (await db!.selectFrom('nodes').select('bmc_tls_fingerprint').where('id', '=', id).executeTakeFirstOrThrow())
      .bmc_tls_fingerprint;

  it('first contact pins the certificate the BMC presents, then reads the power state through the pin', async () => {
    const id = await liveNode({});
    expect(await checkBmc(id)).toEqual({ power: expect.stringMatching(/^(on|off)$/) });
    expect(await pinned(id)).toBe(FINGERPRINT);
  });

  it('a wrong password fails bmc_auth_failed, non-retryable; a pinned certificate the BMC does not present fails bmc_certificate_mismatch', async () => {
    const wrongPassword = await liveNode({ password: 'not-the-password' });
    await expect(checkBmc(wrongPassword)).rejects.toMatchObject({ type: 'bmc_auth_failed', nonRetryable: true });
    const other = new X509Certificate(readFileSync(path.join(TLS, 'bmc-b.crt'))).fingerprint256;
    const impostor = await liveNode({ tlsFingerprint: other });
    await expect(checkBmc(impostor)).rejects.toMatchObject({ type: 'bmc_certificate_mismatch', nonRetryable: true });
    expect(await pinned(impostor)).toBe(other);
  });
});
