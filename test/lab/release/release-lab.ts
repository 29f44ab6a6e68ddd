/**
 * The release lab (test/lab/release/up.sh) from the tests' side: bare Debian trixie nodes with Ceph
 * Reef 18.2.7 from packages and no cluster, each with a root sshd, drives, and an ipmi_sim BMC whose
 * power really stops and boots the node (docs/lab.md#release-lab). Starts it in a fixed short
 * directory, reads lab.json, runs ctl.sh, stops it with down.sh (which checks that no process, mount
 * or loop device is left).
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BmcTarget, SshTarget } from '../../../drivers/types';

const run = promisify(execFile);
const SCRIPTS = __dirname;

export interface ReleaseLabNode {
  name: string;
  /** labnode<k>: the node's UTS hostname (mon/mgr ids of the package deployer). */
  hostname: string;
  dir: string;
  ssh: { host: string; port: number; user: 'root'; fingerprint: string };
  bmc: { host: string; port: number; username: string; password: string };
  /** The node's drives as the node names them (sdb, sdc, …). */
  drives: string[];
  /** The host's loop devices behind them, in the same order. */
  loops: string[];
}

export interface ReleaseLabInfo {
  dir: string;
  clientKey: string;
  /** Mon k (1-based) of a deployment listens on cephPortBase + k - 1. */
  cephPortBase: number;
  /** Every other Ceph daemon binds within it (ms_bind_port_min/max). */
  cephPortRange: [number, number];
  release: 'reef';
  cephVersion: string;
  /** release → the apt source line for the offline repository mounted in every node. */
  upgradeRepo: Record<string, string>;
  upgradeVersion: Record<string, string>;
  nodes: ReleaseLabNode[];
}

/** Fails with what to do when the release lab cannot run here (never a silent skip). */
export function assertReleaseLabPrerequisites(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'The release lab must run as root (namespaces, loop devices, mounts): see docs/lab.md#release-lab.',
    );
  }
  try {
    execFileSync('bash', [path.join(SCRIPTS, 'bases.sh'), '--check'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      'The release lab bases are not built: run `bash test/lab/release/bases.sh` (about 1 min, needs deb.debian.org) or `bash .ci/run`.',
    );
  }
  for (const program of ['ipmi_sim', 'ipmitool', 'losetup', 'nsenter']) {
    try {
      execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`The release lab needs ${program} (apt-get install -y openipmi ipmitool util-linux).`);
    }
  }
}

export class ReleaseLab {
  readonly info: ReleaseLabInfo;
  /** Seconds up.sh took. */
  readonly startSeconds: number;

  private constructor(info: ReleaseLabInfo, startSeconds: number) {
    this.info = info;
    this.startSeconds = startSeconds;
  }

  /**
   * Starts a lab in DIR (default /tmp/nfrel-test; a former lab there is stopped first) on
   * LAB_PORT_BASE (default NF_RELEASE_LAB_PORT_BASE or 16500: sshd BASE+k, BMC BASE+50+k,
   * Ceph BASE+100..BASE+199).
   */
  static async start(
    options: { dir?: string; portBase?: number; env?: Record<string, string> } = {},
  ): Promise<ReleaseLab> {
    assertReleaseLabPrerequisites();
    const dir = options.dir ?? '/tmp/nfrel-test';
    const portBase = options.portBase ?? Number(process.env.NF_RELEASE_LAB_PORT_BASE ?? 16500);
    // A lab another live test run started here is not ours to stop (up.sh would stop it first).
    const owner = readOwner(dir);
    if (owner && owner !== processIdentity(process.pid) && processIdentity(Number(owner.split(' ')[0])) === owner) {
      throw new Error(
        `${dir} holds a release lab of another running test process (${owner}): set NF_RELEASE_LAB_PORT_BASE and another dir`,
      );
    }
    const started = Date.now();
    try {
      await run('bash', [path.join(SCRIPTS, 'up.sh'), dir], {
        env: { ...process.env, LAB_PORT_BASE: String(portBase), ...options.env },
        maxBuffer: 4 * 1024 * 1024,
      });
    } catch (err) {
      const e = err as { message?: string; stdout?: string; stderr?: string; code?: unknown };
      const hint = e.code === 4 ? ' (ports busy: another release lab on this base? set NF_RELEASE_LAB_PORT_BASE)' : '';
      throw new Error(
        `test/lab/release/up.sh ${dir} failed${hint}: ${e.message ?? ''}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`,
      );
    }
    writeFileSync(path.join(dir, 'owner'), processIdentity(process.pid) ?? '');
    const info = JSON.parse(readFileSync(path.join(dir, 'lab.json'), 'utf8')) as ReleaseLabInfo;
    return new ReleaseLab(info, (Date.now() - started) / 1000);
  }

  get dir(): string {
    return this.info.dir;
  }

  node(name: string): ReleaseLabNode {
    const n = this.info.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no release lab node ${name}`);
    return n;
  }

  clientKey(): string {
    return readFileSync(this.info.clientKey, 'utf8');
  }

  /** For the product's SSH driver: root with the lab key, the host key pinned from lab.json. */
  sshTarget(name: string): SshTarget {
    const n = this.node(name);
    return {
      host: n.ssh.host,
      port: n.ssh.port,
      username: n.ssh.user,
      privateKey: this.clientKey(),
      pinnedFingerprint: n.ssh.fingerprint,
    };
  }

  /** For the product's IPMI driver. */
  bmcTarget(name: string): BmcTarget {
    const n = this.node(name);
    return { address: n.bmc.host, port: n.bmc.port, username: n.bmc.username, password: n.bmc.password };
  }

  /** test/lab/release/ctl.sh DIR …: stdout (throws on a non-zero exit, with stderr). */
  async ctl(...args: string[]): Promise<string> {
    const { stdout } = await run('bash', [path.join(SCRIPTS, 'ctl.sh'), this.dir, ...args], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  }

  /** A command as root on node K (1-based), through ctl.sh exec (not SSH: works while the node is off). */
  async exec(k: number, command: string): Promise<string> {
    return this.ctl('exec', String(k), command);
  }

  /** Stops everything the lab started; --wipe unless NF_LAB_KEEP=1. Throws if anything is left. */
  async stop(): Promise<string> {
    const keep = process.env.NF_LAB_KEEP === '1';
    const { stdout } = await run('bash', [path.join(SCRIPTS, 'down.sh'), this.dir, ...(keep ? [] : ['--wipe'])]);
    return stdout;
  }

  /** Whether the lab directory still exists (down.sh --wipe removes it). */
  exists(): boolean {
    return existsSync(this.dir);
  }
}

function readOwner(dir: string): string | null {
  try {
    return readFileSync(path.join(dir, 'owner'), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** "<pid> <start time>" of a live process (the start time tells a reused PID apart), or null. */
function processIdentity(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? null : `${pid} ${fields[19]}`;
  } catch {
    return null;
  }
}
