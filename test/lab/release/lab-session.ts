/**
 * What the release lab's API tests share (the headline journey, the upgrade faults): a release lab
 * in its own directory and port base (LAB's ReleaseLab, test/lab/release/up.sh), the real API and
 * worker configured for the package deployer in that lab, and the steps every such test takes
 * through the API with a live key: register the nodes, create a Reef cluster, a pool with
 * checksummed data, wait for an operation or for a healthy cluster, delete the cluster and check
 * the nodes are bare again. Every wait is bounded.
 */
import { expect } from 'vitest';
import type { Config } from '../../../lib/config';
import type { RunningWorker } from '../../../worker/main';
import { webhookDispatchScheduleId } from '../../../workflows/contracts';
import { startTestApi, type TestApi } from '../../helpers/api';
import { startTestWorker } from '../../helpers/worker';
import { ReleaseLab, type ReleaseLabInfo } from './release-lab';

const TERMINAL = ['completed', 'failed', 'cancelled'];

export class LabSession {
  releaseLab!: ReleaseLab;
  lab!: ReleaseLabInfo;
  api!: TestApi;
  worker!: RunningWorker;
  key = '';
  readonly nodeIds: Record<string, string> = {};
  readonly timings: string[] = [];
  private readonly started = Date.now();

  constructor(
    readonly dir: string,
    readonly portBase: number,
  ) {}

  /**
   * up.sh (a former lab in the directory is stopped first), the lab adaptations, the API and worker
   * (`env`: more API/worker settings, e.g. lab-monitor.ts's MONITOR_ENV; `labEnv`: up.sh's, e.g.
   * LAB_NODES).
   */
  async start(env: Record<string, string> = {}, labEnv: Record<string, string> = {}): Promise<void> {
    this.releaseLab = await this.timed('lab up (up.sh)', () =>
      ReleaseLab.start({ dir: this.dir, portBase: this.portBase, env: labEnv }),
    );
    this.lab = this.releaseLab.info;
    // A lab adaptation, not product (Debian's units read /etc/default/ceph): this machine's / has
    // about 27 % free, below mon_data_avail_warn (30 %), so every mon would warn MON_DISK_LOW and the
    // cluster would never reach HEALTH_OK. (Debian Reef's relative default osd_class_dir needs no
    // adaptation: the lab's systemctl shim starts every unit in /, as systemd does.)
    for (const k of this.lab.nodes.map((_, i) => i + 1))
      await this.exec(k, `echo 'CEPH_ARGS="--mon-data-avail-warn 5"' > /etc/default/ceph`);
    this.api = await startTestApi({
      NF_POLL_INTERVAL_MS: '1000',
      NF_WAIT_POWER_MS: '60000',
      NF_WAIT_SSH_MS: '60000',
      NF_WAIT_CEPH_MS: '300000',
      NF_SSH_READY_TIMEOUT_MS: '10000',
      NF_ALLOW_LOCAL_ADDRESSES: 'true',
      // The package deployer in the lab: every mon on 127.0.0.1, so each its own port; daemons bind
      // in the lab's range; the upgrade installs Tentacle from the lab's local repository.
      NF_CEPH_MON_PORT_BASE: String(this.lab.cephPortBase),
      NF_CEPH_BIND_PORT_RANGE: `${this.lab.cephPortRange[0]}-${this.lab.cephPortRange[1]}`,
      NF_CEPH_APT_SOURCES: JSON.stringify(this.lab.upgradeRepo),
      ...env,
    });
    this.worker = await startTestWorker(
      { ...this.api.config, logLevel: (process.env.NF_TEST_LOG_LEVEL ?? 'silent') as Config['logLevel'] },
      this.api.db,
    );
    this.key = this.api.account.keys.live;
  }

  /** Worker and API stopped; the lab stopped (down.sh --wipe unless NF_LAB_KEEP=1; it checks nothing is left). */
  async stop(label: string): Promise<void> {
    // The worker's webhook dispatch Schedule outlives it in Temporal: remove it (its task queue is this session's).
    await this.api?.client.schedule
      .getHandle(webhookDispatchScheduleId(this.api.config.temporal.taskQueue))
      .delete()
      .catch(() => {});
    await this.worker?.shutdown();
    await this.api?.close();
    if (this.releaseLab) await this.timed('lab down (down.sh)', () => this.releaseLab.stop());
    this.timings.push(`whole ${label} file: ${((Date.now() - this.started) / 1000).toFixed(1)} s`);
    console.log(`${label} timings:\n  ${this.timings.join('\n  ')}`);
  }

  ctl(...args: string[]): Promise<string> {
    return this.releaseLab.ctl(...args);
  }

  /** `ceph … -f json` on node 1 (its own CLI and /etc/ceph). */
  async cephJson<T = any>(...args: string[]): Promise<T> {
    return JSON.parse(await this.ctl('ceph', ...args, '-f', 'json')) as T;
  }

  exec(k: number, cmd: string): Promise<string> {
    return this.releaseLab.exec(k, cmd);
  }

  request(method: string, p: string, body?: unknown, headers?: Record<string, string>) {
    return this.api.request(method, p, {
      key: this.key,
      ...(body === undefined ? {} : { body }),
      ...(headers ? { headers } : {}),
    });
  }

  /** GET /v1/operations/{id} every 500 ms until `until` (default: ended), at most timeoutMs. */
  async waitForOperation(id: string, until?: (op: any) => boolean, timeoutMs = 600_000): Promise<any> {
    const done = until ?? ((op: any) => TERMINAL.includes(op.status));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.request('GET', `/v1/operations/${id}`);
      expect(r.status).toBe(200);
      if (done(r.body.data)) return r.body.data;
      if (Date.now() > deadline)
        throw new Error(`operation ${id} still ${r.body.data.status}: ${JSON.stringify(r.body.data).slice(-3000)}`);
      await new Promise((res) => setTimeout(res, 500));
    }
  }

  async timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
    const t = Date.now();
    try {
      return await fn();
    } finally {
      this.timings.push(`${label}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
  }

  /**
   * Ready the way the product means it: HEALTH_OK (or only the allowed checks, by code prefix), all
   * PGs active+clean, within timeoutS.
   */
  async waitHealthy(timeoutS: number, allow: string[] = []): Promise<any> {
    const deadline = Date.now() + timeoutS * 1000;
    let last: any = null;
    for (;;) {
      const s = await this.cephJson('status');
      const checks = Object.keys(s.health?.checks ?? {}).filter((c) => !allow.some((a) => c.startsWith(a)));
      const pgs = s.pgmap?.num_pgs ?? 0;
      const clean = (s.pgmap?.pgs_by_state ?? [])
        .filter((x: any) => x.state_name === 'active+clean')
        .reduce((n: number, x: any) => n + x.count, 0);
      last = { health: s.health?.status, checks: Object.keys(s.health?.checks ?? {}), pgs, clean };
      if (checks.length === 0 && pgs > 0 && clean === pgs) return s;
      if (Date.now() > deadline) throw new Error(`not healthy after ${timeoutS} s: ${JSON.stringify(last)}`);
      await new Promise((res) => setTimeout(res, 1000));
    }
  }

  /** POST /v1/nodes for every lab node, each registration completed and the node ready with its drives. */
  async registerNodes(): Promise<void> {
    const started = await Promise.all(
      this.lab.nodes.map((n) =>
        this.request('POST', '/v1/nodes', {
          hostname: n.hostname,
          ip_address: n.ssh.host,
          ssh_port: n.ssh.port,
          ssh_user: n.ssh.user,
          ssh_private_key: this.releaseLab.clientKey(),
          ipmi_address: n.bmc.host,
          ipmi_port: n.bmc.port,
          ipmi_username: n.bmc.username,
          ipmi_password: n.bmc.password,
        }),
      ),
    );
    for (const [i, r] of started.entries()) {
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      const op = await this.waitForOperation(r.body.data.operation_id);
      expect(op.status, describeOp(op)).toBe('completed');
      const node = (await this.request('GET', `/v1/nodes/${r.body.data.id}`)).body.data;
      expect(node.status).toBe('ready');
      expect(node.drives.map((d: any) => [d.device, d.smart_ok])).toEqual(
        this.lab.nodes[i]!.drives.map((d) => [d, true]),
      );
      this.nodeIds[this.lab.nodes[i]!.name] = node.id;
    }
  }

  /**
   * POST /v1/clusters (reef, packages) on every lab node (or on the named ones); returns the cluster
   * id and the ended operation.
   */
  async createReefCluster(name: string, nodeNames?: string[]): Promise<{ clusterId: string; op: any }> {
    const r = await this.request('POST', '/v1/clusters', {
      name,
      node_ids: (nodeNames ?? this.lab.nodes.map((n) => n.name)).map((n) => this.nodeIds[n]),
      ceph_version: 'reef',
      deployment: 'packages',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return { clusterId: r.body.data.id, op: await this.waitForOperation(r.body.data.operation_id) };
  }

  /** A replicated pool (size 3, autoscale off) through the API, then `objects` random 1 MiB objects; their sha256. */
  async poolWithData(clusterId: string, pool: string, objects: number): Promise<Record<string, string>> {
    const r = await this.request('POST', `/v1/clusters/${clusterId}/pools`, {
      name: pool,
      type: 'replicated',
      replication_factor: 3,
      pg_autoscale: false,
      application: 'rgw',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const op = await this.waitForOperation(r.body.data.operation_id);
    expect(op.status, describeOp(op)).toBe('completed');
    const out = await this.exec(
      1,
      `set -e; d=$(mktemp -d); for i in $(seq 1 ${objects}); do head -c 1048576 /dev/urandom > $d/obj$i; rados -p ${pool} put obj$i $d/obj$i; done; cd $d; sha256sum obj*; rm -rf $d`,
    );
    return parseSums(out);
  }

  /** sha256 of each object as read back from the pool inside node 1. */
  async readChecksums(pool: string, objects: number): Promise<Record<string, string>> {
    return parseSums(
      await this.exec(
        1,
        `set -e; d=$(mktemp -d); for i in $(seq 1 ${objects}); do rados -p ${pool} get obj$i $d/obj$i; done; cd $d; sha256sum obj*; rm -rf $d`,
      ),
    );
  }

  /** DELETE /v1/clusters/{id} (confirmed); returns the ended operation. */
  async deleteCluster(clusterId: string): Promise<any> {
    const r = await this.request('DELETE', `/v1/clusters/${clusterId}`, undefined, { 'X-Confirm-Delete': 'true' });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return this.waitForOperation(r.body.data.operation_id);
  }

  /**
   * After a delete: every node pending (or the status `statuses` names for it, e.g. a node removed
   * from the cluster before is `ready`), and in each no Ceph unit active, no data, config or
   * bluestore label.
   */
  async expectNodesBare(statuses: Record<string, string> = {}): Promise<void> {
    for (const n of this.lab.nodes) {
      expect((await this.request('GET', `/v1/nodes/${this.nodeIds[n.name]}`)).body.data.status, n.name).toBe(
        statuses[n.name] ?? 'pending',
      );
    }
    for (const [i, n] of this.lab.nodes.entries()) {
      // No Ceph unit active (the lab's nodes share the machine's PIDs: ask the node's systemctl, not
      // ps), no data, config or keyring (Debian's own /etc/ceph/rbdmap stays), no bluestore label.
      const left = await this.exec(
        i + 1,
        `echo "daemons: $(for u in /run/nflab/units/ceph-*; do [ -d "$u" ] && systemctl is-active "\${u##*/}"; done | grep -c "^active")"; echo "data: $(ls -A /var/lib/ceph/mon /var/lib/ceph/mgr /var/lib/ceph/osd | grep -v ":$" | grep -c .)"; echo "config: $(ls /etc/ceph/ceph.conf /etc/ceph/*.keyring 2>/dev/null | wc -l)"; for d in ${n.drives.map((d) => `/dev/${d}`).join(' ')}; do echo "$d: $(ceph-volume raw list $d --format json 2>/dev/null | tr -d " \\n")"; done`,
      );
      expect(left.trim().split('\n'), n.name).toEqual([
        'daemons: 0',
        'data: 0',
        'config: 0',
        ...n.drives.map((d) => `/dev/${d}: {}`),
      ]);
    }
  }
}

export function describeOp(op: any): string {
  return JSON.stringify({
    status: op.status,
    current_step: op.current_step,
    error: op.error,
    logs: (op.logs ?? []).slice(-15).map((l: any) => l.message),
  });
}

/** "step 12.3 s, …" for the steps of an ended operation. */
export function stepTimes(op: any): string {
  const s = (x: any) => ((Date.parse(x.finished_at) - Date.parse(x.started_at)) / 1000).toFixed(1);
  return op.steps
    .filter((x: any) => x.started_at && x.finished_at)
    .map((x: any) => `${x.name} ${s(x)} s`)
    .join(', ');
}

function parseSums(out: string): Record<string, string> {
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .map(([sum, name]) => [name!, sum!]),
  );
}
