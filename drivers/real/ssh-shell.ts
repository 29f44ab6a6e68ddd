/**
 * The one SSH wrapper (STYLE 8), over ssh2. What it guarantees, and the lab finding behind each:
 * - Host keys are pinned by SHA256 fingerprint, formatted exactly as `ssh-keygen -l -E sha256` prints
 *   it; without a hostVerifier ssh2 accepts ANY key. A null pin accepts the key and reports it
 *   (pin on first contact); a different key is a non-retryable host_key_mismatch.
 * - setNoDelay(true): ssh2 leaves Nagle on, which makes each exec round trip 25-45 ms instead of ~2.
 * - A connection cut during the handshake emits only `close`, never `error`: `close` before `ready`
 *   is a failure here, so a connect can never hang.
 * - Remote commands outlive the client unless signalled: a timed-out or cancelled exec sends the
 *   remote process a signal before closing the channel.
 * - stdout/stderr are bounded. A read that gives its own limit (ExecOptions.maxOutputBytes, every
 *   ceph read does) and prints more is stopped and fails with the retryable `output_truncated`, so a
 *   cut output never reaches its parser (issue 14: a 1 MiB cap cut `ceph osd dump` at ~1,200 OSDs
 *   into a non-retryable command_failed). A command without one (apt, cephadm bootstrap, systemctl:
 *   host-sized output nobody parses whole) runs to its end under the session's limit, the rest
 *   dropped and noted: stopping an install midway for being chatty would be worse. The connection
 *   is ended on every failure path.
 */
import { createHash } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { Client, type ClientChannel } from 'ssh2';
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

export interface SshShellOptions {
  /** Bound on TCP connect + SSH handshake + authentication (Config.sshReadyTimeoutMs). */
  readyTimeoutMs: number;
  /** Exec timeout when a call gives none. */
  defaultExecTimeoutMs?: number;
  /** Per stream (stdout, stderr) of an exec that gives no limit of its own; the rest is dropped and noted. */
  maxOutputBytes?: number;
}

/** `SHA256:` + unpadded base64 of the SHA-256 of the public key blob, as OpenSSH prints it. */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

export function createSshShellDriver(options: SshShellOptions): ShellDriver {
  const limits = {
    execTimeoutMs: options.defaultExecTimeoutMs ?? 10 * 60_000,
    maxOutputBytes: options.maxOutputBytes ?? 1024 * 1024,
  };
  return {
    connect(target: SshTarget, opts?: { signal?: AbortSignal; readyTimeoutMs?: number }): Promise<ShellSession> {
      return connect(target, opts?.readyTimeoutMs ?? options.readyTimeoutMs, opts?.signal, limits);
    },
  };
}

interface Limits {
  execTimeoutMs: number;
  maxOutputBytes: number;
}

function connect(
  target: SshTarget,
  readyTimeoutMs: number,
  signal: AbortSignal | undefined,
  limits: Limits,
): Promise<ShellSession> {
  const where = `ssh ${target.username}@${target.host}:${target.port}`;
  return new Promise<ShellSession>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DriverError(FAILURE.cancelled, `${where}: cancelled`, false));
      return;
    }
    const conn = new Client();
    let seen: string | null = null;
    let mismatch = false;
    let settled = false;

    const cleanup = () => signal?.removeEventListener('abort', onAbort);
    const fail = (err: DriverError) => {
      if (settled) return;
      settled = true;
      cleanup();
      conn.destroy();
      reject(err);
    };
    const onAbort = () => fail(new DriverError(FAILURE.cancelled, `${where}: cancelled`, false));
    signal?.addEventListener('abort', onAbort, { once: true });

    conn.once('ready', () => {
      if (settled) {
        conn.end();
        return;
      }
      settled = true;
      cleanup();
      resolve(new SshShellSession(conn, seen!, where, limits));
    });
    conn.on('error', (err: Error & { level?: string; code?: string }) => {
      if (mismatch) {
        fail(
          new DriverError(
            FAILURE.hostKeyMismatch,
            `${where}: host key ${seen} does not match the pinned ${target.pinnedFingerprint}`,
            false,
          ),
        );
      } else if (err.level === 'client-authentication') {
        fail(new DriverError(FAILURE.sshAuthFailed, `${where}: authentication failed (user or key refused)`, false));
      } else if (err.level === 'client-timeout') {
        fail(new DriverError(FAILURE.sshUnreachable, `${where}: no SSH handshake within ${readyTimeoutMs} ms`, true));
      } else {
        fail(new DriverError(FAILURE.sshUnreachable, `${where}: ${connectFailureClass(err.code)}`, true));
      }
    });
    // Only `close`, no `error`, when the server goes away mid-handshake.
    conn.once('close', () =>
      fail(new DriverError(FAILURE.sshUnreachable, `${where}: connection closed before SSH was ready`, true)),
    );

    try {
      conn.connect({
        host: target.host,
        port: target.port,
        username: target.username,
        privateKey: target.privateKey,
        readyTimeout: readyTimeoutMs,
        hostVerifier: (key: Buffer) => {
          seen = sshFingerprint(key);
          mismatch = target.pinnedFingerprint !== null && seen !== target.pinnedFingerprint;
          return !mismatch;
        },
      });
      conn.setNoDelay(true);
    } catch {
      // ssh2 throws synchronously for a private key it cannot parse: a configuration error.
      fail(new DriverError(FAILURE.sshAuthFailed, `${where}: unusable private key`, false));
    }
  });
}

/**
 * What a failed connection is, in one of a few fixed phrases: never the error's own text, which
 * may quote what a non-SSH service at that address answered (a registration must not turn the
 * worker into a port scanner whose findings are read back through the operation's error).
 */
export function connectFailureClass(code: string | undefined): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
      return 'host unreachable';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection reset before SSH was ready';
    default:
      return 'no SSH handshake (the service at this address is not SSH, or it failed)';
  }
}

class SshShellSession implements ShellSession {
  private closed = false;
  /** Pending execs, failed at once if the connection drops. */
  private readonly pending = new Set<(err: DriverError) => void>();

  constructor(
    private readonly conn: Client,
    readonly hostKeyFingerprint: string,
    private readonly where: string,
    private readonly limits: Limits,
  ) {
    // Without a listener an `error` after ready would crash the process.
    conn.on('error', (err: Error) => this.lost(`connection error: ${err.message}`));
    conn.on('close', () => this.lost('connection closed'));
  }

  private lost(why: string): void {
    this.closed = true;
    const err = new DriverError(FAILURE.sshUnreachable, `${this.where}: ${why}`, true);
    for (const reject of [...this.pending]) reject(err);
    this.pending.clear();
  }

  exec(command: string, options?: ExecOptions): Promise<ExecResult> {
    const timeoutMs = options?.timeoutMs ?? this.limits.execTimeoutMs;
    const signal = options?.signal;
    return new Promise<ExecResult>((resolve, reject) => {
      if (this.closed) return reject(new DriverError(FAILURE.sshUnreachable, `${this.where}: connection closed`, true));
      if (signal?.aborted) return reject(new DriverError(FAILURE.cancelled, `${this.where}: cancelled`, false));

      let stream: ClientChannel | undefined;
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(onLost);
        fn();
      };
      // The remote process keeps running after the channel closes unless it is signalled.
      const stop = () => {
        try {
          stream?.signal('TERM');
          stream?.close();
        } catch {
          // The channel is already gone: nothing left to stop.
        }
      };
      const onLost = (err: DriverError) => finish(() => reject(err));
      const onAbort = () => {
        stop();
        finish(() => reject(new DriverError(FAILURE.cancelled, `${this.where}: "${short(command)}" cancelled`, false)));
      };
      const timer = setTimeout(() => {
        stop();
        finish(() =>
          reject(
            new DriverError(
              FAILURE.commandFailed,
              `${this.where}: "${short(command)}" timed out after ${timeoutMs} ms`,
              true,
            ),
          ),
        );
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.add(onLost);

      this.conn.exec(command, (err, ch) => {
        if (err)
          return finish(() =>
            reject(new DriverError(FAILURE.sshUnreachable, `${this.where}: exec failed: ${err.message}`, true)),
          );
        stream = ch;
        if (settled) return stop();
        // A limit of the exec's own is strict (over it: output_truncated); the session's only trims.
        const strict = options?.maxOutputBytes !== undefined;
        const max = options?.maxOutputBytes ?? this.limits.maxOutputBytes;
        const out = new BoundedText(max);
        const errOut = new BoundedText(max);
        let exit: { code: number | null; signal: string | null } | null = null;
        // Over the limit: stop the command and fail typed and retryable, never hand back a cut output.
        const overflow = (which: string) => {
          stop();
          finish(() =>
            reject(
              new DriverError(
                FAILURE.outputTruncated,
                `${this.where}: "${short(command)}" printed more than ${max} bytes on ${which}: output dropped`,
                true,
              ),
            ),
          );
        };
        ch.on('data', (c: Buffer) => {
          if (!out.push(c) && strict) overflow('stdout');
        });
        ch.stderr.on('data', (c: Buffer) => {
          if (!errOut.push(c) && strict) overflow('stderr');
        });
        ch.on('exit', (code: number | null, sig?: string) => {
          exit = { code: code ?? null, signal: sig ?? null };
        });
        ch.on('close', () => {
          if (!exit) {
            return finish(() =>
              reject(
                new DriverError(
                  FAILURE.sshUnreachable,
                  `${this.where}: connection lost during "${short(command)}"`,
                  true,
                ),
              ),
            );
          }
          const code = exit.code ?? 128 + signalNumber(exit.signal);
          finish(() => resolve({ code, stdout: out.text(), stderr: errOut.text() }));
        });
      });
    });
  }

  async run(command: string, options?: ExecOptions): Promise<string> {
    const res = await this.exec(command, options);
    if (res.code !== 0) throw commandFailed(command, res);
    return res.stdout;
  }

  close(): void {
    this.closed = true;
    this.conn.end();
  }
}

/** Collects a stream up to a byte limit, decoding UTF-8 once at the end (chunks split characters). */
class BoundedText {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private dropped = 0;

  constructor(private readonly max: number) {}

  /** False once the stream has gone past the limit (what does not fit is dropped, and counted). */
  push(chunk: Buffer): boolean {
    const room = this.max - this.kept;
    if (room >= chunk.length) {
      this.chunks.push(chunk);
      this.kept += chunk.length;
      return true;
    }
    if (room > 0) this.chunks.push(chunk.subarray(0, room));
    this.kept += Math.max(0, room);
    this.dropped += chunk.length - Math.max(0, room);
    return false;
  }

  text(): string {
    const s = Buffer.concat(this.chunks).toString('utf8');
    return this.dropped > 0 ? `${s}\n[truncated: ${this.dropped} more bytes]` : s;
  }
}

function signalNumber(name: string | null): number {
  if (!name) return 127;
  const key = (name.startsWith('SIG') ? name : `SIG${name}`) as keyof typeof osConstants.signals;
  return osConstants.signals[key] ?? 127;
}

function short(command: string): string {
  return command.length > 120 ? `${command.slice(0, 120)}…` : command;
}
