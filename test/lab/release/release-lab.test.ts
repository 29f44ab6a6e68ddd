import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLsblk, parseSmartctl } from '../../../drivers/host-inventory';
import { createIpmiPowerDriver } from '../../../drivers/real/ipmi-power';
import { createSshShellDriver } from '../../../drivers/real/ssh-shell';
import type { ShellSession } from '../../../drivers/types';
import { ReleaseLab } from './release-lab';

/**
 * The release lab's contract, as the package deployer and the headline journey rely on it
 * (docs/lab.md#release-lab), checked with the product's own drivers (ssh2, ipmitool) and parsers:
 * root over SSH with the lab key on every node, hostnames, each node's own drives with SMART passed,
 * Ceph 18.2.7 installed and no cluster, systemd-like units, a BMC whose power off really stops the
 * node and whose power on boots it with its enabled units, and a teardown that leaves nothing.
 */
let lab: ReleaseLab;
const shell = createSshShellDriver({ readyTimeoutMs: 5_000, defaultExecTimeoutMs: 60_000 });
// A lab BMC answers a power-off only once the node's processes are gone (its chassis hook runs
// synchronously): seconds on a loaded 2-core machine, past the production driver's 2 s reply
// timeout, which an activity retries. These tests call the driver once: give it 6 s per reply.
const power = createIpmiPowerDriver({ ipmitoolPath: 'ipmitool', replyTimeoutSec: 6 });
const sessions: ShellSession[] = [];

beforeAll(async () => {
  lab = await ReleaseLab.start();
  console.log(`release lab up in ${lab.startSeconds.toFixed(1)} s`);
}, 120_000);

afterAll(async () => {
  for (const s of sessions) s.close();
  if (lab?.exists()) await lab.stop();
}, 60_000);

async function session(name: string): Promise<ShellSession> {
  const s = await shell.connect(lab.sshTarget(name));
  sessions.push(s);
  return s;
}

/** Resolves true when nothing accepts on 127.0.0.1:port (refused), false when something does. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('error', () => resolve(true));
  });
}

async function until<T>(what: string, seconds: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${seconds} s (last error: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('release lab', () => {
  it('every node: root over SSH with the lab key only, pinned host key, hostname labnodeK, Ceph 18.2.7 installed, no cluster', async () => {
    expect(lab.info.nodes.map((n) => n.hostname)).toEqual(['labnode1', 'labnode2', 'labnode3']);
    expect(lab.info.release).toBe('reef');
    expect(lab.info.upgradeRepo.tentacle).toBe('deb [trusted=yes] file:/srv/nflab/apt/tentacle ./');
    for (const n of lab.info.nodes) {
      const s = await session(n.name);
      expect(s.hostKeyFingerprint).toBe(n.ssh.fingerprint);
      expect((await s.run('id -un; hostname')).trim().split('\n')).toEqual(['root', n.hostname]);
      expect(await s.run('ceph --version')).toMatch(/^ceph version 18\.2\.7 \(\w+\) reef \(stable\)/);
      const conf = await s.exec('ls /etc/ceph/ceph.conf /var/lib/ceph/mon/* /var/lib/ceph/osd/*');
      expect(conf.code).not.toBe(0);
      // the Tentacle repository is there, but not an apt source
      await s.run('test -s /srv/nflab/apt/tentacle/Packages');
      expect(await s.run('cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null || true')).not.toContain(
        'nflab',
      );
    }
    // another key is refused
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'nfrel-key-'));
    try {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(tmp, 'k')]);
      const other = { ...lab.sshTarget('node1'), privateKey: readFileSync(path.join(tmp, 'k'), 'utf8') };
      await expect(shell.connect(other)).rejects.toThrow();
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("drives: lsblk and smartctl show exactly the node's own drives, as disks with SMART passed", async () => {
    for (const [i, n] of lab.info.nodes.entries()) {
      const s = await session(n.name);
      const lsblk = await s.run('lsblk -J -b -d -o NAME,SIZE,ROTA,TRAN,TYPE');
      const disks = parseLsblk(lsblk);
      expect(disks.map((d) => d.name)).toEqual(['sdb', 'sdc']);
      expect(disks.every((d) => d.sizeBytes === 8 * 1024 ** 3)).toBe(true);
      expect(JSON.parse(lsblk).blockdevices).toHaveLength(2);
      for (const [j, dev] of n.drives.entries()) {
        const smart = await s.exec(`smartctl -H -j /dev/${dev}`);
        expect(smart.code).toBe(0);
        expect(parseSmartctl(smart.stdout)).toEqual({ ok: true, reason: null });
        // the device is this node's own loop device, over this node's drive file
        const backing = await s.run(`cat /sys/dev/block/$(stat -c '%Hr:%Lr' /dev/${dev})/loop/backing_file`);
        expect(backing.trim()).toBe(`${lab.dir}/drives/node${i + 1}-${dev}.img`);
        expect(n.loops[j]).toMatch(/^loop\d+$/);
      }
      expect(parseSmartctl((await s.exec('smartctl -H -j /dev/sda')).stdout).ok).toBe(false);
      expect((await s.run('ls /dev')).split(/\s+/).filter((d) => /^(sd|loop|vd|nvme)/.test(d))).toEqual(['sdb', 'sdc']);
    }
  });

  it('systemctl: the Debian ceph units through the shim; unknown units fail as with systemd', async () => {
    const s = await session('node1');
    const unknown = await s.exec('systemctl start nosuch.service');
    expect(unknown).toMatchObject({
      code: 5,
      stderr: 'Failed to start nosuch.service: Unit nosuch.service not found.\n',
    });
    expect(await s.exec('systemctl is-active ceph-mon@labnode1')).toMatchObject({ code: 3, stdout: 'inactive\n' });
    // a unit whose daemon has no data fails like a real one: Debian's ExecStartPre refuses
    const noData = await s.exec('systemctl start ceph-osd@9');
    expect(noData.code).toBe(1);
    expect(noData.stderr).toContain(
      'Job for ceph-osd@9.service failed because the control process exited with error code.',
    );
    expect(await s.exec('systemctl is-active ceph-osd@9')).toMatchObject({ code: 3, stdout: 'failed\n' });
    expect((await s.exec('systemctl reset-failed ceph-osd@9; systemctl is-active ceph-osd@9')).stdout).toBe(
      'inactive\n',
    );
  });

  it('power: ipmitool off stops sshd and every daemon of the node at once; on boots it: sshd, then every enabled unit', async () => {
    // a one-node Ceph on node 3, by hand as the package deployer does it (mon, mgr, raw-mode OSD)
    execFileSync('bash', [path.join(__dirname, 'smoke.sh'), lab.dir, '3'], { stdio: 'pipe' });
    const s3 = await session('node3');
    const units = ['ceph-mon@labnode3', 'ceph-mgr@labnode3', 'ceph-osd@0'];
    const pids = async (s: ShellSession) =>
      (
        await s.run(
          `for u in ${units.join(' ')}; do systemctl is-active -q $u && cat /run/nflab/units/$u.service/main.pid; done`,
        )
      )
        .trim()
        .split('\n');
    // (re)started over SSH, as the product does: the session's cwd is /root
    expect(await s3.run(`pwd; systemctl restart ${units.join(' ')}`)).toBe('/root\n');
    const before = await pids(s3);
    expect(before).toHaveLength(3);
    expect(await s3.run(`ps -o user= -p ${before.join(',')}`)).toBe('ceph\nceph\nceph\n');
    // Started from an SSH session in /root, yet each daemon runs in `/`, systemd's default
    // WorkingDirectory: Debian's Reef has a relative default osd_class_dir that only resolves from there.
    const cwds = async (s: ShellSession, ps: string[]) =>
      (await s.run(`for p in ${ps.join(' ')}; do readlink /proc/$p/cwd; done`)).trim().split('\n');
    expect(await cwds(s3, before)).toEqual(['/', '/', '/']);
    expect((await s3.run(`systemctl is-enabled ${units.join(' ')}`)).trim().split('\n')).toEqual([
      'enabled',
      'enabled',
      'enabled',
    ]);
    s3.close();

    const n3 = lab.node('node3');
    await power.off(lab.bmcTarget('node3'));
    expect(await refused(n3.ssh.port)).toBe(true);
    expect(await power.status(lab.bmcTarget('node3'))).toBe('off');
    for (const pid of before) expect(existsProc(Number(pid))).toBe(false);
    expect(await lab.ctl('status')).toMatch(/node3 labnode3 +power off .* processes 0/);
    // the other nodes are untouched
    expect((await (await session('node1')).run('hostname')).trim()).toBe('labnode1');

    await power.on(lab.bmcTarget('node3'));
    const back = await until('node3 answers SSH again', 30, async () =>
      (await refused(n3.ssh.port)) ? undefined : true,
    );
    expect(back).toBe(true);
    const s3b = await session('node3');
    const after = await until('the enabled units are active again', 30, async () => {
      const p = await pids(s3b);
      return p.length === 3 && p.every(Boolean) ? p : undefined;
    });
    for (const [i, pid] of after.entries()) expect(pid).not.toBe(before[i]);
    expect(await cwds(s3b, after), 'started at boot').toEqual(['/', '/', '/']);
    await until('osd.0 up again in the cluster', 60, async () =>
      (await s3b.run('ceph osd dump -f json')).includes('"up":1') ? true : undefined,
    );
  });

  it('down.sh leaves nothing: no process, mount or loop device, and the directory is gone', async () => {
    const dir = lab.dir;
    for (const s of sessions.splice(0)) s.close();
    await lab.stop();
    expect(lab.exists()).toBe(false);
    expect(execFileSync('losetup', ['-a'], { encoding: 'utf8' })).not.toContain(dir);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
    const inLab = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return (
            readlinkSync(`/proc/${p}/root`).startsWith(dir) || readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir)
          );
        } catch {
          return false;
        }
      });
    expect(inLab).toEqual([]);
  });
});

function existsProc(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
