/**
 * PowerDriver over ipmitool (IPMI 2.0 / RMCP+ "lanplus"), one process per command.
 *
 * Facts this file is built on (measured against ipmi_sim + ipmitool 1.8.19, see test/lab):
 * - `-C 3` always: without it ipmitool first asks for cipher suites, which some BMCs never answer
 *   (10 s per call); `-C 0` logs in with ANY password and must never be used.
 * - The password goes in IPMI_PASSWORD with `-E`, never in argv, where any user can read it (ps).
 * - A wrong password and a dead BMC exit 1 with the same line ("Unable to establish IPMI v2 / RMCP+
 *   session"). `-v` adds what tells them apart: "RAKP 2 HMAC is invalid" / "unauthorized name" for
 *   credentials, "Get Auth Capabilities error" for no answer. Failing those markers, timing does: a
 *   refusal comes back in milliseconds, silence costs the full reply timeout.
 * - `chassis bootdev` exits 0 even when the BMC rejects it: stderr is checked.
 */
import { spawn } from 'node:child_process';
import { FAILURE } from '../../lib/failures';
import { tail } from '../driver-errors';
import { DriverError, type BmcTarget, type PowerDriver, type PowerState } from '../types';

export interface IpmiPowerOptions {
  /** ipmitool binary (Config.ipmitoolPath). */
  ipmitoolPath: string;
  /** `-N`: seconds ipmitool waits for each reply from the BMC. */
  replyTimeoutSec?: number;
  /** `-R`: retries of each request. */
  retries?: number;
  /** Hard bound on one ipmitool process; it is killed past it. */
  processTimeoutMs?: number;
}

export interface IpmitoolResult {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
  timedOut: boolean;
}

const MAX_OUTPUT_BYTES = 64 * 1024;

export function createIpmiPowerDriver(options: IpmiPowerOptions): PowerDriver {
  const replyTimeoutSec = options.replyTimeoutSec ?? 2;
  const retries = options.retries ?? 1;
  // Enough for every retry to time out once more than ipmitool's own accounting, plus start-up.
  const processTimeoutMs = options.processTimeoutMs ?? (retries + 2) * replyTimeoutSec * 2000 + 2000;

  async function chassis(bmc: BmcTarget, args: string[]): Promise<IpmitoolResult> {
    if (!bmc.address || !bmc.username) {
      throw new DriverError(FAILURE.bmcAuthFailed, 'BMC address and user name are required', false);
    }
    const argv = [
      '-I',
      'lanplus',
      '-C',
      '3',
      '-H',
      bmc.address,
      '-p',
      String(bmc.port),
      '-U',
      bmc.username,
      '-E',
      '-R',
      String(retries),
      '-N',
      String(replyTimeoutSec),
      '-v',
      ...args,
    ];
    const res = await runIpmitool(options.ipmitoolPath, argv, bmc.password, processTimeoutMs);
    if (res.timedOut || res.code !== 0) {
      throw classifyIpmitoolFailure(res, {
        address: bmc.address,
        command: args.join(' '),
        replyTimeoutMs: replyTimeoutSec * 1000,
      });
    }
    return res;
  }

  return {
    async status(bmc: BmcTarget): Promise<PowerState> {
      const res = await chassis(bmc, ['chassis', 'power', 'status']);
      return parseChassisPowerStatus(bmc.address, res.stdout);
    },
    async on(bmc: BmcTarget): Promise<void> {
      await chassis(bmc, ['chassis', 'power', 'on']);
    },
    async off(bmc: BmcTarget): Promise<void> {
      await chassis(bmc, ['chassis', 'power', 'off']);
    },
    async soft(bmc: BmcTarget): Promise<void> {
      await chassis(bmc, ['chassis', 'power', 'soft']);
    },
    async bootDevice(bmc: BmcTarget, device: 'pxe' | 'disk'): Promise<void> {
      const res = await chassis(bmc, ['chassis', 'bootdev', device]);
      const rejected = /^.*(Set Chassis Boot Parameter \d+ failed|Error setting Chassis Boot Parameter).*$/im.exec(
        res.stderr,
      );
      if (rejected) {
        // The BMC answered and refused; a busy BMC does that too, so it is worth a retry.
        throw new DriverError(
          FAILURE.bmcUnreachable,
          `BMC ${bmc.address} rejected boot device ${device}: ${rejected[0].trim()}`,
          true,
        );
      }
    },
  };
}

/**
 * `chassis power status` output → on/off. Anything else ("Chassis Power is unknown", an empty or
 * garbled answer) is an unknown state: bmc_power_unknown, retried, never taken for "off" (a query
 * error read as "not on" power-cycled healthy nodes, cluster-api-provider-maas#379).
 */
export function parseChassisPowerStatus(address: string, stdout: string): PowerState {
  const m = /^\s*Chassis Power is (on|off)\s*$/im.exec(stdout);
  if (!m) {
    throw new DriverError(
      FAILURE.bmcPowerUnknown,
      `BMC ${address}: power state unknown, not taken for off (chassis power status said: ${tail(stdout, 200) || 'nothing'})`,
      true,
    );
  }
  return m[1]!.toLowerCase() as PowerState;
}

const AUTH_MARKERS = [
  /RAKP 2 HMAC is invalid/i,
  /unauthorized name/i,
  /RAKP \d message indicates an error/i,
  /invalid authentication algorithm/i,
  /Insufficient privilege level/i,
  /password invalid/i,
  /username invalid/i,
];
const UNREACHABLE_MARKERS = [
  /Get Auth Capabilities error/i,
  /Error issuing Get Channel Authentication Capabilities/i,
  /No response from remote controller/i,
  /Address lookup for .* failed/i,
  /Node busy/i,
  /timeout/i,
];
const NO_SESSION = /Unable to establish IPMI v2 \/ RMCP\+ session/i;

/**
 * Turns a failed ipmitool run into a typed DriverError: credentials and privilege problems are
 * permanent (bmc_auth_failed); silence, timeouts and BMC-side errors are retried (bmc_unreachable).
 */
export function classifyIpmitoolFailure(
  res: IpmitoolResult,
  ctx: { address: string; command: string; replyTimeoutMs: number },
): DriverError {
  const out = `${res.stderr}\n${res.stdout}`;
  const detail = tail(res.stderr, 500) || tail(res.stdout, 500);
  if (res.timedOut) {
    return new DriverError(
      FAILURE.bmcUnreachable,
      `BMC ${ctx.address}: ipmitool ${ctx.command} timed out after ${res.elapsedMs} ms`,
      true,
    );
  }
  // Before a session exists, whatever answered at the address may not be a BMC: say only a fixed
  // classification, never its output (registration must not be a way to probe addresses, issue 8 #9).
  if (AUTH_MARKERS.some((re) => re.test(out))) {
    return new DriverError(
      FAILURE.bmcAuthFailed,
      `BMC ${ctx.address} refused the credentials (user name, password or privilege level)`,
      false,
    );
  }
  if (UNREACHABLE_MARKERS.some((re) => re.test(out))) {
    return new DriverError(FAILURE.bmcUnreachable, `BMC ${ctx.address} did not answer (no IPMI session)`, true);
  }
  if (NO_SESSION.test(out)) {
    // No marker: fall back to timing. A BMC that refused us answered within milliseconds; one that
    // is gone costs at least a reply timeout.
    if (res.elapsedMs < ctx.replyTimeoutMs / 2) {
      return new DriverError(
        FAILURE.bmcAuthFailed,
        `BMC ${ctx.address} refused the session within ${res.elapsedMs} ms`,
        false,
      );
    }
    return new DriverError(
      FAILURE.bmcUnreachable,
      `BMC ${ctx.address} did not answer within ${res.elapsedMs} ms (no IPMI session)`,
      true,
    );
  }
  // The BMC answered and the command failed ("Unspecified error", busy, …).
  return new DriverError(
    FAILURE.bmcUnreachable,
    `BMC ${ctx.address}: ipmitool ${ctx.command} failed (exit ${res.code}): ${detail}`,
    true,
  );
}

/** Runs ipmitool with the password in its environment only, bounded output and a hard timeout. */
export function runIpmitool(
  path: string,
  argv: string[],
  password: string,
  timeoutMs: number,
): Promise<IpmitoolResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    // A minimal environment: the child gets the password and nothing else of the worker's (which
    // holds NF_SECRET_KEY and database credentials).
    const child = spawn(path, argv, {
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C', IPMI_PASSWORD: password },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout.on('data', (c: Buffer) => {
      if (outBytes < MAX_OUTPUT_BYTES) stdout.push(c);
      outBytes += c.length;
    });
    child.stderr.on('data', (c: Buffer) => {
      if (errBytes < MAX_OUTPUT_BYTES) stderr.push(c);
      errBytes += c.length;
    });
    let settled = false;
    const settle = (timedOut: boolean, code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        code,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        elapsedMs: Date.now() - started,
        timedOut,
      });
    };
    // Past the bound: kill and answer now, without waiting for pipes a stray grandchild may hold.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      child.stdout.destroy();
      child.stderr.destroy();
      settle(true, null);
    }, timeoutMs);
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err.code === 'ENOENT' || err.code === 'EACCES') {
        reject(new DriverError(FAILURE.ipmitoolMissing, `ipmitool not runnable at ${path}: ${err.code}`, false));
      } else {
        reject(new DriverError(FAILURE.bmcUnreachable, `ipmitool failed to start: ${err.message}`, true));
      }
    });
    child.once('close', (code) => settle(false, code));
  });
}
