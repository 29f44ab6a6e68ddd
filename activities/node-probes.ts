import { Context } from '@temporalio/activity';
import type { Transaction } from 'kysely';
import type { Database, Node } from '../db/database';
import { probeableMembers, setProbedNodeStatus } from '../db/repositories/nodes.repository';
import type { ActivityDeps } from './deps';
import { bmcTarget, driversFor, sshTarget } from './targets';
import { withinMs } from './failures';

/**
 * Node probes of the cluster monitor (docs/operators.md §The cluster monitor, node probes): each
 * round asks every member that the monitor may judge whether its host answers over SSH (a trivial
 * command through the shell driver) and its BMC answers a power status (through the power driver).
 * Both answer and the power is on → `online`; either fails → `offline`, with a reason naming which
 * (`ssh: …`, `bmc: …`). Only online ↔ offline: a member that is pending, ready, provisioning or in
 * error belongs to an operation or to the operator, and a member whose lock a running operation holds
 * (a reboot powers its node off on purpose) is left alone.
 */

/** Probes run this many at a time: a round over dead hosts stays well within the round's 1-min bound. */
export const PROBE_CONCURRENCY = 8;
/** Each probe (SSH connect + `true`, or one BMC power status) is given up after this long. */
export const PROBE_TIMEOUT_MS = 5_000;
/** Members not probed once this much of the round has gone are left as they are until the next round. */
export const PROBE_ROUND_BUDGET_MS = 30_000;

/** Statuses the monitor moves between; every other status belongs to an operation or the operator. */

export interface NodeProbe {
  nodeId: string;
  hostname: string;
  /** null: both answered (online); else why the node is offline ("ssh: …; bmc: …"). */
  failure: string | null;
}

/** A probe's own wording: which peer, and the bound in seconds (sub-second bounds in tests). */
function bounded<T>(what: string, ms: number, f: () => Promise<T>): Promise<T> {
  return withinMs(ms, what, f, (w, t) => `${w} did not answer within ${t / 1000} s`);
}

function messageOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 240);
}

function heartbeat(): void {
  try {
    Context.current().heartbeat();
  } catch {
    // Not inside an activity (a direct call): nothing to report to.
  }
}

/** One member: SSH and BMC asked at the same time, each bounded. An unknown or failing power state is never read as "off". */
export async function probeNode(deps: ActivityDeps, node: Node, timeoutMs = PROBE_TIMEOUT_MS): Promise<NodeProbe> {
  const drivers = driversFor(deps, node);
  const ssh = async (): Promise<string | null> => {
    // The session is closed however the probe ends: also when it connects after the bound expired,
    // or when its command hangs past the bound.
    const abort = new AbortController();
    const connecting = drivers.shell.connect(sshTarget(deps, node), {
      readyTimeoutMs: timeoutMs,
      signal: abort.signal,
    });
    try {
      await bounded(`ssh ${node.ip_address}`, timeoutMs, async () => {
        const session = await connecting;
        await session.run('true', { timeoutMs, signal: abort.signal });
      });
      return null;
    } catch (err) {
      return `ssh: ${messageOf(err)}`;
    } finally {
      abort.abort();
      connecting.then(
        (session) => session.close(),
        () => undefined,
      );
    }
  };
  const bmc = async (): Promise<{ failure: string | null; off: boolean }> => {
    try {
      const power = await bounded(`BMC ${node.ipmi_address}`, timeoutMs, () =>
        drivers.power.status(bmcTarget(deps, node)),
      );
      return { failure: null, off: power === 'off' };
    } catch (err) {
      return { failure: `bmc: ${messageOf(err)}`, off: false };
    }
  };
  const [s, b] = await Promise.all([ssh(), bmc()]);
  const parts: string[] = [];
  if (s) parts.push(b.off ? `${s} (the BMC reads chassis power off)` : s);
  else if (b.off) parts.push('bmc: chassis power is off');
  if (b.failure) parts.push(b.failure);
  return { nodeId: node.id, hostname: node.hostname, failure: parts.length ? parts.join('; ') : null };
}

/**
 * Probes the cluster's probeable members, PROBE_CONCURRENCY at a time, heartbeating as each answers.
 * Members not started within PROBE_ROUND_BUDGET_MS are not probed this round (no verdict, no change).
 */
export async function probeMembers(
  deps: ActivityDeps,
  clusterId: string,
  opts: { concurrency?: number; timeoutMs?: number; budgetMs?: number } = {},
): Promise<NodeProbe[]> {
  const members = await probeableMembers(deps.db, clusterId);
  const started = Date.now();
  const budget = opts.budgetMs ?? PROBE_ROUND_BUDGET_MS;
  const out: NodeProbe[] = [];
  let next = 0;
  const lane = async () => {
    while (next < members.length && Date.now() - started < budget) {
      const node = members[next++]!;
      out.push(await probeNode(deps, node, opts.timeoutMs));
      heartbeat();
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? PROBE_CONCURRENCY, members.length) }, lane));
  return out.sort((a, b) => a.hostname.localeCompare(b.hostname));
}

/**
 * Writes the probes' verdicts in the monitor round's transaction: a member still online/offline,
 * still in the cluster and still not held by a running operation's lock (a reboot may have started
 * since the probe) becomes online (reason cleared) or offline (with the reason). A status change
 * writes its node.status_changed event through the nodes table's trigger. Answers one line per
 * status that changed.
 */
export async function recordNodeProbes(
  trx: Transaction<Database>,
  clusterId: string,
  probes: readonly NodeProbe[],
): Promise<string[]> {
  const changed: string[] = [];
  for (const p of probes) {
    const status = p.failure === null ? 'online' : 'offline';
    const before = await setProbedNodeStatus(trx, clusterId, p.nodeId, status, p.failure);
    if (before !== null && before !== status)
      changed.push(`${p.hostname} ${before} → ${status}${p.failure ? ` (${p.failure})` : ''}`);
  }
  return changed;
}
