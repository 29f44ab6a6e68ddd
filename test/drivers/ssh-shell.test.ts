import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Server, utils, type Connection, type ServerChannel } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSshShellDriver, sshFingerprint } from '../../drivers/real/ssh-shell';
import type { SshTarget } from '../../drivers/types';

/**
 * The real ssh2 client wrapper against an in-process ssh2 Server (a protocol-level SSH server: real
 * key exchange, host key, public-key authentication, exec channels, signals). It is not sshd — login
 * shells and orphaned remote processes are for the lab — but it exercises everything the wrapper
 * decides: pinning, error classification, timeouts, signals, output bounds, cut connections.
 */
let dir: string;
let server: Server;
let port: number;
let hostFingerprint: string;
let clientKey: string;
let otherKey: string;
const signals: string[] = [];
const clients = new Set<Connection>();

function keygen(name: string): { priv: string; pub: string; fingerprint: string } {
  const file = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], {
    encoding: 'utf8',
  }).split(' ')[1]!;
  return { priv: readFileSync(file, 'utf8'), pub: readFileSync(`${file}.pub`, 'utf8'), fingerprint };
}

function handle(command: string, stream: ServerChannel, conn: Connection): void {
  switch (command) {
    case 'echo hi':
      stream.write('hi\n');
      stream.exit(0);
      return void stream.end();
    case 'fail':
      stream.stderr.write('boom\n');
      stream.exit(3);
      return void stream.end();
    case 'big':
      for (let i = 0; i < 48; i++) stream.write(Buffer.alloc(64 * 1024, 0x61));
      stream.exit(0);
      return void stream.end();
    case 'utf8': {
      const bytes = Buffer.from('héllo ✓\n');
      stream.write(bytes.subarray(0, 2));
      setTimeout(() => {
        stream.write(bytes.subarray(2));
        stream.exit(0);
        stream.end();
      }, 20);
      return;
    }
    case 'hang':
      return; // never exits on its own; see the 'signal' handler
    case 'drop':
      stream.write('partial');
      setTimeout(() => conn.end(), 20);
      return;
    default:
      stream.stderr.write(`sh: 1: ${command}: not found\n`);
      stream.exit(127);
      stream.end();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nf-ssh-'));
  const host = keygen('host');
  hostFingerprint = host.fingerprint;
  const client = keygen('client');
  clientKey = client.priv;
  otherKey = keygen('other').priv;
  const allowed = utils.parseKey(client.pub);
  if (allowed instanceof Error) throw allowed;

  server = new Server({ hostKeys: [host.priv] }, (conn) => {
    clients.add(conn);
    conn.on('close', () => clients.delete(conn));
    conn.on('error', () => {});
    conn.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey' || ctx.username !== 'nf') return ctx.reject(['publickey']);
      const match = ctx.key.algo === allowed.type && ctx.key.data.equals(allowed.getPublicSSH());
      if (!match) return ctx.reject(['publickey']);
      if (ctx.signature && !allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo)) return ctx.reject(['publickey']);
      ctx.accept();
    });
    conn.on('ready', () => {
      conn.on('session', (accept) => {
        const session = accept();
        let current: ServerChannel | undefined;
        session.on('signal', (_accept, _reject, info) => {
          signals.push(info.name);
          current?.exit(info.name, false, '');
          current?.end();
        });
        session.on('exec', (acceptExec, _reject, info) => {
          current = acceptExec();
          handle(info.command, current, conn);
        });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  for (const c of clients) c.end();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

const target = (over: Partial<SshTarget> = {}): SshTarget => ({
  host: '127.0.0.1',
  port,
  username: 'nf',
  privateKey: clientKey,
  pinnedFingerprint: hostFingerprint,
  ...over,
});
const driver = () => createSshShellDriver({ readyTimeoutMs: 2_000 });

describe('ssh2 shell driver', () => {
  it('fingerprints host keys exactly as ssh-keygen -l -E sha256 prints them', () => {
    const pub = utils.parseKey(readFileSync(path.join(dir, 'host.pub'), 'utf8'));
    if (pub instanceof Error) throw pub;
    expect(sshFingerprint(pub.getPublicSSH())).toBe(hostFingerprint);
  });

  it('pins on first contact (null pin), verifies a pin, and refuses a different key permanently', async () => {
    const first = await driver().connect(target({ pinnedFingerprint: null }));
    expect(first.hostKeyFingerprint).toBe(hostFingerprint);
    first.close();
    const pinned = await driver().connect(target());
    expect(pinned.hostKeyFingerprint).toBe(hostFingerprint);
    pinned.close();
    await expect(
      driver().connect(target({ pinnedFingerprint: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })),
    ).rejects.toMatchObject({
      type: 'host_key_mismatch',
      retryable: false,
      message: expect.stringContaining(hostFingerprint),
    });
  });

  it('runs commands: exit codes, separate stderr, run() throws command_failed with the stderr', async () => {
    const s = await driver().connect(target());
    try {
      expect(await s.exec('echo hi')).toEqual({ code: 0, stdout: 'hi\n', stderr: '' });
      expect(await s.exec('fail')).toEqual({ code: 3, stdout: '', stderr: 'boom\n' });
      expect(await s.run('echo hi')).toBe('hi\n');
      await expect(s.run('fail')).rejects.toMatchObject({
        type: 'command_failed',
        retryable: false,
        message: expect.stringContaining('boom'),
      });
      expect(await s.exec('utf8')).toMatchObject({ code: 0, stdout: 'héllo ✓\n' });
      const [a, b] = await Promise.all([s.exec('echo hi'), s.exec('fail')]);
      expect([a.code, b.code]).toEqual([0, 3]);
    } finally {
      s.close();
    }
  });

  it("a read over its own limit is the retryable output_truncated, never a cut string; a command without one is trimmed to the session's limit and runs to its end", async () => {
    const s = await createSshShellDriver({ readyTimeoutMs: 2_000, maxOutputBytes: 100_000 }).connect(target());
    try {
      // 3 MiB against a read's limit of 1 MiB: typed, retryable, nothing of the output handed back.
      await expect(s.exec('big', { maxOutputBytes: 1024 * 1024 })).rejects.toMatchObject({
        type: 'output_truncated',
        retryable: true,
        message: expect.stringContaining('more than 1048576 bytes on stdout'),
      });
      // The same command within a limit that fits it: whole (the read's limit, not the session's).
      const res = await s.exec('big', { maxOutputBytes: 4 * 1024 * 1024 });
      expect(res).toMatchObject({ code: 0 });
      expect(res.stdout.length).toBe(48 * 64 * 1024);
      await expect(s.exec('echo hi', { maxOutputBytes: 2 })).rejects.toMatchObject({ type: 'output_truncated' });
      // No limit of its own (an install, a bootstrap): trimmed to the session's 100 kB, noted, exit code kept.
      const trimmed = await s.exec('big');
      expect(trimmed.code).toBe(0);
      expect(trimmed.stdout.startsWith('a'.repeat(100_000))).toBe(true);
      expect(trimmed.stdout).toMatch(/\n\[truncated: \d+ more bytes\]$/);
      expect(await s.exec('echo hi')).toMatchObject({ code: 0, stdout: 'hi\n' });
    } finally {
      s.close();
    }
  });

  it('a timed-out command is signalled on the remote side and fails retryable; the session stays usable', async () => {
    const s = await driver().connect(target());
    try {
      signals.length = 0;
      await expect(s.exec('hang', { timeoutMs: 200 })).rejects.toMatchObject({
        type: 'command_failed',
        retryable: true,
        message: expect.stringContaining('timed out'),
      });
      await expect.poll(() => signals).toEqual(['TERM']);
      expect(await s.run('echo hi')).toBe('hi\n');
    } finally {
      s.close();
    }
  });

  it('an aborted command is signalled and cancelled', async () => {
    const s = await driver().connect(target());
    try {
      signals.length = 0;
      const ac = new AbortController();
      const p = s.exec('hang', { signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await expect(p).rejects.toMatchObject({ type: 'cancelled' });
      await expect.poll(() => signals).toEqual(['TERM']);
    } finally {
      s.close();
    }
  });

  it('a connection lost during a command is ssh_unreachable, and the session refuses further work', async () => {
    const s = await driver().connect(target());
    await expect(s.exec('drop')).rejects.toMatchObject({ type: 'ssh_unreachable', retryable: true });
    await expect(s.exec('echo hi')).rejects.toMatchObject({ type: 'ssh_unreachable' });
    s.close();
  });

  it('classifies connect failures: wrong key, unparsable key, refused port, silent port, cut handshake, abort', async () => {
    await expect(driver().connect(target({ privateKey: otherKey }))).rejects.toMatchObject({
      type: 'ssh_auth_failed',
      retryable: false,
    });
    await expect(driver().connect(target({ username: 'root' }))).rejects.toMatchObject({
      type: 'ssh_auth_failed',
      retryable: false,
    });
    await expect(driver().connect(target({ privateKey: 'not a key' }))).rejects.toMatchObject({
      type: 'ssh_auth_failed',
      retryable: false,
    });

    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await expect(driver().connect(target({ port: closedPort }))).rejects.toMatchObject({
      type: 'ssh_unreachable',
      retryable: true,
      message: expect.stringMatching(/: connection refused$/),
    });

    // Accepts TCP and then says nothing: the ready timeout bounds it.
    const silent = net.createServer(() => {});
    // Accepts, sends a banner, then hangs up mid-handshake: ssh2 emits only `close`.
    const cutter = net.createServer((sock) => sock.end('SSH-2.0-OpenSSH_9.2p1\r\n'));
    try {
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      await new Promise<void>((r) => cutter.listen(0, '127.0.0.1', r));
      const started = Date.now();
      await expect(
        createSshShellDriver({ readyTimeoutMs: 300 }).connect(
          target({ port: (silent.address() as net.AddressInfo).port }),
        ),
      ).rejects.toMatchObject({ type: 'ssh_unreachable', retryable: true });
      expect(Date.now() - started).toBeLessThan(3_000);
      await expect(
        driver().connect(target({ port: (cutter.address() as net.AddressInfo).port })),
      ).rejects.toMatchObject({
        type: 'ssh_unreachable',
        retryable: true,
      });
      const ac = new AbortController();
      const p = driver().connect(target({ port: (silent.address() as net.AddressInfo).port }), { signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await expect(p).rejects.toMatchObject({ type: 'cancelled' });
    } finally {
      silent.close();
      cutter.close();
    }
  });

  it('says only a fixed classification of a failed connection, never what the service at the address answered (issue 8 #9)', async () => {
    const banners = [
      'HTTP/1.1 400 Bad Request\r\nServer: s3cr3t-internal-service\r\n\r\n',
      'SSH-2.0-s3cr3t_version\r\ns3cr3t garbage that is no SSH packet at all......\r\n',
      'E\u0000\u0000\u0000\u0088SFATAL\u0000C0A000\u0000Munsupported frontend protocol s3cr3t\u0000\u0000',
    ];
    for (const banner of banners) {
      const server = net.createServer((sock) => {
        sock.write(banner);
        setTimeout(() => sock.end(), 100);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const port = (server.address() as net.AddressInfo).port;
        const err = (await driver()
          .connect(target({ port }))
          .then(
            () => null,
            (e: unknown) => e,
          )) as { type: string; message: string } | null;
        expect(err?.type).toBe('ssh_unreachable');
        expect(err?.message).not.toMatch(/s3cr3t|packet|protocol/i);
        expect(err?.message).toMatch(
          /^ssh \S+@127\.0\.0\.1:\d+: (connection refused|connection timed out|host unreachable|connection reset before SSH was ready|no SSH handshake \(the service at this address is not SSH, or it failed\)|connection closed before SSH was ready|no SSH handshake within \d+ ms)$/,
        );
      } finally {
        server.close();
      }
    }
  });
});
