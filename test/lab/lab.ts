/**
 * The lab from the tests' side: starts test/lab/up.sh in a fresh temporary directory, reads what it
 * built (lab.json), and acts on it (ctl.sh) or looks at it (the BMC hooks' actions.log, the Ceph
 * cluster through the `ceph` CLI with the admin keyring). Everything is on loopback; the lab is
 * torn down with down.sh, which signals only processes the lab started.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const LAB_SCRIPTS = __dirname;

/** The Debian packages the lab needs (.ci/run installs them). */
export const LAB_PACKAGES = [
  'openipmi',
  'ipmitool',
  'openssh-server',
  'ceph-mon',
  'ceph-mgr',
  'ceph-osd',
  'ceph-common',
];
const LAB_PROGRAMS: Record<string, string> = {
  ipmi_sim: 'openipmi',
  ipmitool: 'ipmitool',
  '/usr/sbin/sshd': 'openssh-server',
  'ceph-mon': 'ceph-mon',
  'ceph-mgr': 'ceph-mgr',
  'ceph-osd': 'ceph-osd',
  ceph: 'ceph-common',
  rados: 'ceph-common',
};

export interface LabNode {
  name: string;
  /** Also the node's UTS hostname, its CRUSH host, and the id of its mon and mgr. */
  hostname: string;
  dir: string;
  osds: number[];
  /** mon.<id> / mgr.<id> running on this node (nodes 1-3 have a mon, nodes 1-2 a mgr). */
  mon: string | null;
  mgr: string | null;
  ssh: { host: string; port: number; user: string; fingerprint: string };
  bmc: { host: string; port: number; username: string; password: string };
}

export interface LabInfo {
  dir: string;
  user: string;
  clientKey: string;
  ceph: {
    conf: string;
    fsid: string;
    monPort: number;
    mons: number;
    mgrs: number;
    store: string;
    pool: string;
    adminNode: string;
  };
  nodes: LabNode[];
}

/**
 * Fails with what to do when the lab cannot run here: the lab tests never skip silently, a
 * machine without the packages (or without root) is a failure with instructions.
 */
export function assertLabPrerequisites(): void {
  const missing = new Set<string>();
  for (const [program, pkg] of Object.entries(LAB_PROGRAMS)) {
    const found = program.startsWith('/')
      ? existsSync(program)
      : (() => {
          try {
            execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
            return true;
          } catch {
            return false;
          }
        })();
    if (!found) missing.add(pkg);
  }
  if (missing.size > 0) {
    throw new Error(
      `The lab tests need Debian packages that are missing here (${[...missing].join(', ')}). ` +
        `Run \`bash .ci/run\`, or: apt-get install -y --no-install-recommends ${LAB_PACKAGES.join(' ')}`,
    );
  }
  if (process.getuid?.() !== 0) {
    throw new Error(
      'The lab tests must run as root: the lab starts private sshd instances and creates its login user (see docs/lab.md).',
    );
  }
}

export interface DaemonEvent {
  node: string;
  /** Epoch seconds. */
  t: number;
  event: 'stopping' | 'stopped' | 'starting' | 'started' | 'failed';
  daemon: string;
  pid: number | null;
}

export class Lab {
  readonly info: LabInfo;
  /** Seconds up.sh took. */
  readonly startSeconds: number;

  private constructor(info: LabInfo, startSeconds: number) {
    this.info = info;
    this.startSeconds = startSeconds;
  }

  /**
   * Starts a lab in a new /tmp directory (short: Ceph's admin socket paths are bounded). Port bases
   * are tried until one is free (up.sh exits 4 when ports are busy).
   */
  static async start(env: Record<string, string> = {}): Promise<Lab> {
    assertLabPrerequisites();
    await stopAbandonedLabs();
    const dir = mkdtempSync('/tmp/nflab-');
    // Who owns this lab: a test run killed before its afterAll leaves it to the next run's sweep.
    writeFileSync(path.join(dir, 'owner'), processIdentity(process.pid) ?? '');
    const started = Date.now();
    const first = Number(process.env.NF_LAB_PORT_BASE ?? 20_000 + (process.pid % 40) * 500);
    let lastError: unknown;
    for (let attempt = 0; attempt < 6; attempt++) {
      const base = first + attempt * 500 > 60_000 ? 20_000 + attempt * 500 : first + attempt * 500;
      try {
        await run('bash', [path.join(LAB_SCRIPTS, 'up.sh'), dir], {
          env: { ...process.env, LAB_PORT_BASE: String(base), ...env },
          maxBuffer: 16 * 1024 * 1024,
        });
        const info = JSON.parse(readFileSync(path.join(dir, 'lab.json'), 'utf8')) as LabInfo;
        return new Lab(info, (Date.now() - started) / 1000);
      } catch (err) {
        lastError = err;
        if ((err as { code?: unknown }).code !== 4) break;
      }
    }
    const e = lastError as { message?: string; stdout?: string; stderr?: string };
    throw new Error(
      `test/lab/up.sh ${dir} failed: ${e.message ?? String(lastError)}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`,
    );
  }

  get dir(): string {
    return this.info.dir;
  }

  node(name: string): LabNode {
    const n = this.info.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no lab node ${name}`);
    return n;
  }

  clientKey(): string {
    return readFileSync(this.info.clientKey, 'utf8');
  }

  /** test/lab/ctl.sh DIR ...: stdout. */
  async ctl(...args: string[]): Promise<string> {
    const { stdout } = await run('bash', [path.join(LAB_SCRIPTS, 'ctl.sh'), this.dir, ...args], {
      maxBuffer: 4 * 1024 * 1024,
    });
    return stdout;
  }

  /** `ceph … -f json` as the cluster admin, parsed. */
  async cephJson<T = any>(...args: string[]): Promise<T> {
    const { stdout } = await run(
      'ceph',
      ['-c', this.info.ceph.conf, '--connect-timeout', '10', ...args, '-f', 'json'],
      {
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    return JSON.parse(stdout) as T;
  }

  /** One `ceph osd dump`: hosts carrying noout, cluster-wide flags, osd id → up. */
  async osdDumpState(): Promise<{ nooutHosts: string[]; flags: string[]; up: Record<number, boolean> }> {
    const dump = await this.cephJson<{
      flags_set: string[];
      crush_node_flags: Record<string, string[]>;
      osds: { osd: number; up: number }[];
    }>('osd', 'dump');
    return {
      nooutHosts: Object.entries(dump.crush_node_flags ?? {})
        .filter(([, f]) => f.includes('noout'))
        .map(([h]) => h)
        .sort(),
      flags: dump.flags_set,
      up: Object.fromEntries(dump.osds.map((o) => [o.osd, o.up === 1])),
    };
  }

  /** Hosts carrying noout and the cluster-wide flags, straight from `ceph osd dump`. */
  async nooutState(): Promise<{ nooutHosts: string[]; flags: string[] }> {
    const { nooutHosts, flags } = await this.osdDumpState();
    return { nooutHosts, flags };
  }

  /** osd id → up, from `ceph osd dump` (the mon's map: never stale). */
  async osdsUp(): Promise<Record<number, boolean>> {
    return (await this.osdDumpState()).up;
  }

  /** Until every OSD is up and in and every PG active+clean, with flushed PG stats (ceph-wait.py). */
  async waitClean(seconds = 120): Promise<string> {
    return this.ctl('wait-clean', String(seconds));
  }

  /** The chassis actions the node's BMC hook executed ("soft", "on", "off", …), in order. */
  powerActions(name: string): string[] {
    return this.readNodeFile(name, 'actions.log')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ').slice(1).join(' '));
  }

  /**
   * What bin/daemon-ctl.sh did to the node's Ceph daemons (systemctl, power on, ctl.sh), in order:
   * `{ t, event: stopping|stopped|starting|started|failed, daemon: "mon.labnode1", pid }`.
   */
  daemonEvents(name: string): DaemonEvent[] {
    return this.readNodeFile(name, 'daemons.log')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [t, event, daemon, , pid] = l.split(' ');
        return {
          node: name,
          t: Number(t),
          event: event as DaemonEvent['event'],
          daemon: daemon!,
          pid: pid === undefined ? null : Number(pid),
        };
      });
  }

  /** The node's systemctl shim calls, `"<verb> <units>"`, in order. */
  systemctlCalls(name: string): string[] {
    return this.readNodeFile(name, 'systemctl.log')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ').slice(1).join(' '));
  }

  /** PID of a running lab daemon ("osd.0", "mon.labnode1"), from its pid file; null if none. */
  daemonPid(daemon: string): number | null {
    const f = path.join(this.dir, 'ceph', 'run', `${daemon}.pid`);
    if (!existsSync(f)) return null;
    const pid = Number(readFileSync(f, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && processIdentity(pid) !== null ? pid : null;
  }

  readNodeFile(name: string, file: string): string {
    const f = path.join(this.node(name).dir, file);
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** Stops everything the lab started and deletes its directory (NF_LAB_KEEP=1 keeps it for a look). */
  async stop(): Promise<void> {
    const keep = process.env.NF_LAB_KEEP === '1';
    await run('bash', [path.join(LAB_SCRIPTS, 'down.sh'), this.dir, ...(keep ? [] : ['--wipe'])]);
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

/**
 * Labs that test runs started in /tmp and could not stop (the run was killed): their owner
 * process is gone. Labs started by hand have no owner file and are never touched.
 */
async function stopAbandonedLabs(): Promise<void> {
  for (const name of readdirSync('/tmp')) {
    if (!name.startsWith('nflab-')) continue;
    const dir = path.join('/tmp', name);
    let owner: string;
    try {
      owner = readFileSync(path.join(dir, 'owner'), 'utf8').trim();
    } catch {
      continue;
    }
    const pid = Number(owner.split(' ')[0]);
    if (Number.isInteger(pid) && pid > 0 && processIdentity(pid) === owner) continue;
    await run('bash', [path.join(LAB_SCRIPTS, 'down.sh'), dir, '--wipe']).catch(() => undefined);
  }
}
