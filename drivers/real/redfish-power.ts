/**
 * PowerDriver over Redfish (DMTF DSP0266) on HTTPS, the same interface and the same failure
 * classification as drivers/real/ipmi-power.ts (issue 13 #5).
 *
 * - The BMC's TLS certificate is pinned like an SSH host key: BMCs present self-signed
 *   certificates, so no CA can vouch for them; the SHA-256 fingerprint seen at registration is
 *   stored (nodes.bmc_tls_fingerprint) and every later connection must present exactly it. The
 *   fingerprint is checked after the TLS handshake and BEFORE the request (and its credentials) is
 *   written to the socket: an impostor never sees the password. A different certificate is
 *   bmc_certificate_mismatch, never retried.
 * - HTTP Basic on every request (Redfish allows it; no session to leak or expire), one connection
 *   per request, each bounded by a timeout.
 * - 401/403 → bmc_auth_failed (never retried). No answer, a refused or reset connection, a timeout,
 *   a 5xx → bmc_unreachable (retried). Any other refusal (4xx) → command_failed (never retried).
 * - The power state: `On`, `PoweringOff` (still on: the OS is halting, as an IPMI chassis reads
 *   "on" through an ACPI shutdown), `PoweringOn` and `Paused` (power is applied) → on; `Off` → off;
 *   anything else, missing, or an error answer to the read → bmc_power_unknown (retried), NEVER
 *   "off": a query error read as "not on" power-cycled healthy nodes (cluster-api-provider-maas#379).
 * - The system: the BMC's only member of /redfish/v1/Systems (a BMC of one server); a BMC with
 *   none or several is refused (command_failed), since which one is the node cannot be guessed.
 */
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { FAILURE } from '../../lib/failures';
import { normalizeTlsFingerprint } from '../../lib/tls-fingerprint';
import { DriverError, type BmcIdentity, type BmcTarget, type PowerDriver, type PowerState } from '../types';

export interface RedfishPowerOptions {
  /** Bound on one request: connect, TLS, send, whole answer. */
  requestTimeoutMs?: number;
}

const MAX_BODY_BYTES = 1024 * 1024;

interface HttpAnswer {
  status: number;
  body: unknown;
}

/** Redfish PowerState → what the power interface knows; null: unknown. */
export function mapRedfishPowerState(state: unknown): PowerState | null {
  switch (state) {
    case 'On':
    case 'PoweringOff':
    case 'PoweringOn':
    case 'Paused':
      return 'on';
    case 'Off':
      return 'off';
    default:
      return null;
  }
}

/** The Redfish error message of an answer, when it carries one (bounded). Never raw bodies. */
function redfishMessage(body: unknown): string {
  const err = (body as { error?: { message?: unknown; '@Message.ExtendedInfo'?: { Message?: unknown }[] } } | null)
    ?.error;
  const ext = err?.['@Message.ExtendedInfo']?.find((e) => typeof e?.Message === 'string')?.Message;
  const msg = typeof ext === 'string' ? ext : typeof err?.message === 'string' ? err.message : '';
  return msg.length > 300 ? `${msg.slice(0, 300)}…` : msg;
}

export function createRedfishPowerDriver(options: RedfishPowerOptions = {}): PowerDriver {
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  /** The system's @odata.id per BMC (address:port), once found. */
  const systems = new Map<string, string>();

  function unreachable(bmc: BmcTarget, why: string): DriverError {
    return new DriverError(FAILURE.bmcUnreachable, `Redfish BMC ${bmc.address}:${bmc.port} ${why}`, true);
  }

  /** A TLS connection whose certificate has been checked against the pin (or read, when `pin` is null). */
  function connect(bmc: BmcTarget, deadline: number): Promise<{ socket: TLSSocket; fingerprint: string }> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({
        host: bmc.address,
        port: bmc.port,
        // Self-signed BMC certificates: trust comes from the pin, checked below, not from a CA.
        rejectUnauthorized: false,
        ...(/^[\d.]+$|:/.test(bmc.address) ? {} : { servername: bmc.address }),
      });
      const timer = setTimeout(
        () => {
          socket.destroy();
          reject(unreachable(bmc, `did not complete a TLS handshake within ${timeoutMs} ms`));
        },
        Math.max(1, deadline - Date.now()),
      );
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        const fingerprint = socket.getPeerCertificate().fingerprint256 ?? '';
        const pin = bmc.tlsFingerprint ? normalizeTlsFingerprint(bmc.tlsFingerprint) : null;
        if (pin !== null && fingerprint !== pin) {
          socket.destroy();
          reject(
            new DriverError(
              FAILURE.bmcCertificateMismatch,
              `Redfish BMC ${bmc.address}:${bmc.port} presents TLS certificate ${fingerprint || '(none)'}, not the one pinned at registration (${pin}): refusing to send it credentials`,
              false,
            ),
          );
          return;
        }
        resolve({ socket, fingerprint });
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        reject(unreachable(bmc, `did not answer (${err.code ?? 'TLS error'})`));
      });
    });
  }

  async function call(
    bmc: BmcTarget,
    method: 'GET' | 'POST' | 'PATCH',
    path: string,
    body?: unknown,
  ): Promise<HttpAnswer> {
    if (!bmc.address || !bmc.username) {
      throw new DriverError(FAILURE.bmcAuthFailed, 'BMC address and user name are required', false);
    }
    if (!bmc.tlsFingerprint) {
      // Credentials only ever go to a pinned certificate: registration pins first (identify).
      throw new DriverError(
        FAILURE.bmcCertificateMismatch,
        `Redfish BMC ${bmc.address}:${bmc.port} has no pinned TLS certificate: refusing to send it credentials`,
        false,
      );
    }
    const deadline = Date.now() + timeoutMs;
    const { socket } = await connect(bmc, deadline);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: DriverError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        socket.destroy();
        reject(err);
      };
      const req = httpsRequest({
        host: bmc.address,
        port: bmc.port,
        method,
        path,
        // The connection whose certificate was just checked, and no other (no agent: with one,
        // node:http would open a connection of its own).
        createConnection: () => socket,
        headers: {
          Accept: 'application/json',
          Authorization: `Basic ${Buffer.from(`${bmc.username}:${bmc.password}`).toString('base64')}`,
          Connection: 'close',
          'OData-Version': '4.0',
          ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) } : {}),
        },
      });
      const timer = setTimeout(
        () => fail(unreachable(bmc, `did not answer ${method} ${path} within ${timeoutMs} ms`)),
        Math.max(1, deadline - Date.now()),
      );
      req.once('error', (err: NodeJS.ErrnoException) =>
        fail(unreachable(bmc, `dropped ${method} ${path} (${err.code ?? err.message})`)),
      );
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (bytes > MAX_BODY_BYTES) fail(unreachable(bmc, `answered ${method} ${path} with over 1 MiB`));
          else chunks.push(c);
        });
        res.once('error', () => fail(unreachable(bmc, `dropped its answer to ${method} ${path}`)));
        res.once('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          socket.destroy();
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = null;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            parsed = null;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.end(payload);
    });
  }

  /** Throws the typed failure for a non-2xx answer. */
  function check(bmc: BmcTarget, what: string, res: HttpAnswer): void {
    if (res.status >= 200 && res.status < 300) return;
    if (res.status === 401 || res.status === 403) {
      // A fixed sentence: whatever answered may not be a BMC (registration must not probe addresses).
      throw new DriverError(
        FAILURE.bmcAuthFailed,
        `Redfish BMC ${bmc.address}:${bmc.port} refused the credentials (HTTP ${res.status}: user name, password or privilege)`,
        false,
      );
    }
    const msg = redfishMessage(res.body);
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      throw unreachable(bmc, `answered ${what} with HTTP ${res.status}${msg ? `: ${msg}` : ''}`);
    }
    throw new DriverError(
      FAILURE.commandFailed,
      `Redfish BMC ${bmc.address}:${bmc.port} refused ${what} (HTTP ${res.status})${msg ? `: ${msg}` : ''}`,
      false,
    );
  }

  async function systemPath(bmc: BmcTarget): Promise<string> {
    const key = `${bmc.address}:${bmc.port}`;
    const known = systems.get(key);
    if (known) return known;
    const res = await call(bmc, 'GET', '/redfish/v1/Systems');
    check(bmc, 'the systems list', res);
    const members = (res.body as { Members?: { '@odata.id'?: unknown }[] } | null)?.Members;
    const ids = Array.isArray(members)
      ? members.map((m) => m?.['@odata.id']).filter((id): id is string => typeof id === 'string' && id.startsWith('/'))
      : [];
    if (ids.length !== 1) {
      throw new DriverError(
        FAILURE.commandFailed,
        `Redfish BMC ${bmc.address}:${bmc.port} manages ${ids.length} systems; NodeFoundry drives BMCs of exactly one server`,
        false,
      );
    }
    systems.set(key, ids[0]!);
    return ids[0]!;
  }

  async function reset(bmc: BmcTarget, resetType: 'On' | 'ForceOff' | 'GracefulShutdown'): Promise<void> {
    const system = await systemPath(bmc);
    const res = await call(bmc, 'POST', `${system}/Actions/ComputerSystem.Reset`, { ResetType: resetType });
    check(bmc, `ComputerSystem.Reset ${resetType}`, res);
  }

  return {
    async identify(bmc: BmcTarget): Promise<BmcIdentity> {
      const { socket, fingerprint } = await connect({ ...bmc, tlsFingerprint: null }, Date.now() + timeoutMs);
      socket.destroy();
      if (!fingerprint) throw unreachable(bmc, 'presented no TLS certificate');
      return { tlsFingerprint: fingerprint };
    },
    async status(bmc: BmcTarget): Promise<PowerState> {
      const system = await systemPath(bmc);
      const res = await call(bmc, 'GET', system);
      if (res.status >= 200 && res.status < 300) {
        const raw = (res.body as { PowerState?: unknown } | null)?.PowerState;
        const state = mapRedfishPowerState(raw);
        if (state) return state;
        throw new DriverError(
          FAILURE.bmcPowerUnknown,
          `Redfish BMC ${bmc.address}:${bmc.port} reports power state ${typeof raw === 'string' ? JSON.stringify(raw.slice(0, 40)) : 'none'}: unknown, not taken for off`,
          true,
        );
      }
      if (res.status === 401 || res.status === 403) check(bmc, 'the power state', res);
      // The BMC answered the read with an error: the state is unknown, never "off".
      const msg = redfishMessage(res.body);
      throw new DriverError(
        FAILURE.bmcPowerUnknown,
        `Redfish BMC ${bmc.address}:${bmc.port} answered the power-state read with HTTP ${res.status}${msg ? ` (${msg})` : ''}: power state unknown, not taken for off`,
        true,
      );
    },
    async on(bmc: BmcTarget): Promise<void> {
      await reset(bmc, 'On');
    },
    async off(bmc: BmcTarget): Promise<void> {
      await reset(bmc, 'ForceOff');
    },
    async soft(bmc: BmcTarget): Promise<void> {
      await reset(bmc, 'GracefulShutdown');
    },
    async bootDevice(bmc: BmcTarget, device: 'pxe' | 'disk'): Promise<void> {
      const system = await systemPath(bmc);
      // Next boot only, as `ipmitool chassis bootdev` without options.
      const res = await call(bmc, 'PATCH', system, {
        Boot: { BootSourceOverrideTarget: device === 'pxe' ? 'Pxe' : 'Hdd', BootSourceOverrideEnabled: 'Once' },
      });
      check(bmc, `boot device ${device}`, res);
    },
  };
}

export { normalizeTlsFingerprint, TLS_FINGERPRINT_PATTERN } from '../../lib/tls-fingerprint';

/** One PowerDriver that sends each target to the driver of its protocol (IPMI when none is said). */
export function createProtocolPowerDriver(drivers: { ipmi: PowerDriver; redfish: PowerDriver }): PowerDriver {
  const pick = (bmc: BmcTarget) => (bmc.protocol === 'redfish' ? drivers.redfish : drivers.ipmi);
  return {
    status: (bmc) => pick(bmc).status(bmc),
    identify: async (bmc) => {
      const d = pick(bmc);
      return d.identify ? d.identify(bmc) : { tlsFingerprint: null };
    },
    on: (bmc) => pick(bmc).on(bmc),
    off: (bmc) => pick(bmc).off(bmc),
    soft: (bmc) => pick(bmc).soft(bmc),
    bootDevice: (bmc, device) => pick(bmc).bootDevice(bmc, device),
  };
}
