import net from 'node:net';
import { Server, utils, type Connection } from 'ssh2';
import type { SshTarget } from '../../drivers/types';
import { generateSshKey } from './ssh-keys';

/**
 * A test SSH peer that plays a Ceph admin node (issue 14): a real SSH server (ssh2's, in process:
 * key exchange, host key, public-key auth, exec channels) answering `ceph …` command lines from
 * `answer(args)` and `systemctl …` with exit 0. Every command line is recorded with the bytes it
 * printed, so a test can assert which reads the driver made and how large each was.
 */
export interface CephPeerCall {
  /** The ceph arguments as the CLI got them, without `ceph --connect-timeout N` and `-f json`. */
  args: string;
  /** The whole command line. */
  command: string;
  bytes: number;
}

export interface CephSshPeer {
  target: SshTarget;
  calls: CephPeerCall[];
  /** Answers to use instead of `answer` (args → stdout), e.g. an over-limit one. */
  overrides: Map<string, string>;
  close(): Promise<void>;
}

const PREFIX = /^(?:sudo -n )?ceph --connect-timeout \d+ /;

export async function startCephSshPeer(answer: (args: string) => string | undefined): Promise<CephSshPeer> {
  const hostKey = generateSshKey();
  const client = generateSshKey();
  const allowed = utils.parseKey(client.publicKey);
  if (allowed instanceof Error) throw allowed;
  const calls: CephPeerCall[] = [];
  const overrides = new Map<string, string>();
  const conns = new Set<Connection>();
  const server = new Server({ hostKeys: [hostKey.privateKey] }, (conn) => {
    conns.add(conn);
    conn.on('close', () => conns.delete(conn));
    conn.on('error', () => {});
    conn.on('authentication', (ctx) => {
      const ok =
        ctx.method === 'publickey' &&
        ctx.key.algo === allowed.type &&
        ctx.key.data.equals(allowed.getPublicSSH()) &&
        (!ctx.signature || allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true);
      if (ok) ctx.accept();
      else ctx.reject(['publickey']);
    });
    conn.on('ready', () => {
      conn.on('session', (accept) => {
        const session = accept();
        session.on('signal', () => {});
        session.on('exec', (acceptExec, _reject, info) => {
          const ch = acceptExec();
          const command = info.command;
          let out: string | undefined;
          let code = 0;
          if (PREFIX.test(command)) {
            const args = command
              .replace(PREFIX, '')
              .replace(/ -f json$/, '')
              .replace(/'/g, '');
            out = overrides.get(args) ?? answer(args);
            if (out === undefined) {
              code = 22;
              ch.stderr.write(`Error EINVAL: unrecognized command: ${args}\n`);
            }
            calls.push({ args, command, bytes: out === undefined ? 0 : Buffer.byteLength(out) });
          } else if (/^(?:sudo -n )?systemctl /.test(command)) {
            calls.push({ args: command, command, bytes: 0 });
          } else {
            code = 127;
            ch.stderr.write(`sh: 1: ${command.split(' ')[0]}: not found\n`);
          }
          // The client may stop reading (over its limit) and close the channel: writes then fail quietly.
          ch.on('error', () => {});
          if (out !== undefined) ch.write(out);
          ch.exit(code);
          ch.end();
        });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    target: { host: '127.0.0.1', port, username: 'nf', privateKey: client.privateKey, pinnedFingerprint: null },
    calls,
    overrides,
    async close() {
      for (const c of conns) c.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
