/**
 * ShellDriver over the sandbox datacenter: SSH to a machine found by account + IP address. The
 * session answers the commands NodeFoundry runs on hosts (see sandbox-host-outputs.ts) and fails the
 * way SSH does: unreachable while the machine is off or booting, host key mismatch against the pin.
 * Any user and key are accepted: the sandbox has no accounts on its hosts.
 */
import type { Db, SandboxMachine } from '../../db/database';
import { FAILURE } from '../../lib/failures';
import { commandFailed } from '../driver-errors';
import {
  DriverError,
  type ExecOptions,
  type ExecResult,
  type ShellDriver,
  type ShellSession,
  type SshTarget,
} from '../types';
import { answerCommand } from './sandbox-host-outputs';
import { clockOf, findByIp, machineCondition, presentedFingerprint, type SandboxClock } from './sandbox-machines';

export function createSandboxShellDriver(db: Db, accountId: string, clock?: SandboxClock): ShellDriver {
  const now = clockOf(clock);
  return {
    async connect(target: SshTarget, options?: { signal?: AbortSignal }): Promise<ShellSession> {
      throwIfAborted(options?.signal);
      const m = await findByIp(db, accountId, target.host);
      if (!m) {
        throw new DriverError(
          FAILURE.sshUnreachable,
          `ssh ${target.host}:${target.port}: connect timed out (no such host)`,
          true,
        );
      }
      assertRunning(m, target.host, now());
      if (!target.username) throw new DriverError(FAILURE.sshAuthFailed, `ssh ${target.host}: no user name`, false);
      const fingerprint = presentedFingerprint(m);
      if (target.pinnedFingerprint !== null && target.pinnedFingerprint !== fingerprint) {
        throw new DriverError(
          FAILURE.hostKeyMismatch,
          `ssh ${target.host}: host key ${fingerprint} does not match the pinned ${target.pinnedFingerprint}`,
          false,
        );
      }
      return new SandboxShellSession(db, m.id, target.host, fingerprint, now);
    },
  };
}

class SandboxShellSession implements ShellSession {
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly machineId: string,
    private readonly host: string,
    readonly hostKeyFingerprint: string,
    private readonly now: () => number,
  ) {}

  async exec(command: string, options?: ExecOptions): Promise<ExecResult> {
    throwIfAborted(options?.signal);
    if (this.closed) throw new DriverError(FAILURE.sshUnreachable, `ssh ${this.host}: session is closed`, true);
    const m = await this.db
      .selectFrom('sandbox_machines')
      .selectAll()
      .where('id', '=', this.machineId)
      .executeTakeFirst();
    if (!m) throw new DriverError(FAILURE.sshUnreachable, `ssh ${this.host}: connection lost`, true);
    // A machine that went down under an open session drops the connection, as a real one does.
    const c = assertRunning(m, this.host, this.now(), 'connection lost');
    return answerCommand(
      { hostname: m.hostname, cpu_cores: m.cpu_cores, ram_gb: m.ram_gb, drives: m.drives, bootedAt: c.since },
      command,
    );
  }

  async run(command: string, options?: ExecOptions): Promise<string> {
    const res = await this.exec(command, options);
    if (res.code !== 0) throw commandFailed(command, res);
    return res.stdout;
  }

  close(): void {
    this.closed = true;
  }
}

function assertRunning(m: SandboxMachine, host: string, now: number, what = 'connect failed') {
  const c = machineCondition(m, now);
  if (!c.running) {
    const why =
      c.power === 'off'
        ? 'the machine is powered off'
        : c.shuttingDown
          ? 'the machine is shutting down'
          : 'the machine is booting';
    throw new DriverError(FAILURE.sshUnreachable, `ssh ${host}: ${what} (${why})`, true);
  }
  return c;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DriverError(FAILURE.cancelled, 'cancelled', false);
}
