/**
 * What a chaos run will do, decided from the seed alone before anything starts: each client's list
 * of actions (with the think time before each and the follow-ups it sends: cancel, pause, resume)
 * and the kill schedule. Outcomes (202 or 409, which operation a `cancel` finds) depend on timing;
 * the choices do not.
 */
import { seededRng, type Rng } from './rng';

export type ProcessName = 'worker' | 'api' | 'temporal';
export const PROCESS_NAMES: readonly ProcessName[] = ['worker', 'api', 'temporal'];

export interface ChaosSize {
  /** Concurrent HTTP clients. */
  clients: number;
  actionsPerClient: number;
  clusters: number;
  hostsPerCluster: number;
  osdsPerHost: number;
  /** SIGKILLs per process, at seeded moments within the first `killWindowMs` of the run (less when the clients' plan is shorter). */
  kills: Record<ProcessName, number>;
  killWindowMs: number;
  /** Pause of a client before each action, ms. */
  thinkMs: readonly [number, number];
}

/** `npm run chaos`: about a hundred actions and eight kills. */
export const FULL_SIZE: ChaosSize = {
  clients: 4,
  actionsPerClient: 25,
  clusters: 2,
  hostsPerCluster: 5,
  osdsPerHost: 2,
  kills: { worker: 3, api: 3, temporal: 2 },
  killWindowMs: 90_000,
  thinkMs: [300, 3_000],
};

/** The seeded run inside `npm test`: worker and API killed once each, Temporal left alone. */
export const SHORT_SIZE: ChaosSize = {
  clients: 3,
  actionsPerClient: 8,
  clusters: 2,
  hostsPerCluster: 5,
  osdsPerHost: 2,
  kills: { worker: 1, api: 1, temporal: 0 },
  killWindowMs: 20_000,
  thinkMs: [500, 2_500],
};

export const POOL_NAMES = ['chaos-a', 'chaos-b', 'chaos-c'] as const;

/** Follow-up requests on the operation an action started, sent `…AfterMs` after its 202. */
export interface FollowUps {
  cancelAfterMs: number | null;
  pauseAfterMs: number | null;
  resumeAfterMs: number | null;
}

export type ActionBody =
  | { kind: 'reboot'; cluster: number; host: number; method: 'graceful' | 'hard' }
  | { kind: 'reweight'; cluster: number; osd: number; weight: number }
  | { kind: 'upgrade'; cluster: number; mode: 'upgrade' | 'restart'; maxConcurrent: number }
  | { kind: 'pool_create'; cluster: number; pool: string; type: 'replicated' | 'erasure'; autoscale: boolean }
  | { kind: 'pool_delete'; cluster: number; pool: string }
  /** On the `pick mod n`-th operation accepted so far in the run (it may have ended: 409). */
  | { kind: 'cancel' | 'pause' | 'resume'; pick: number };

export type ActionKind = ActionBody['kind'];
export type Action = ActionBody & { thinkMs: number; followUps: FollowUps };

export interface Kill {
  atMs: number;
  process: ProcessName;
  /** How long it stays dead before it is started again. */
  downMs: number;
}

export interface ChaosPlan {
  seed: number;
  size: ChaosSize;
  clients: Action[][];
  kills: Kill[];
}

const NO_FOLLOW_UPS: FollowUps = { cancelAfterMs: null, pauseAfterMs: null, resumeAfterMs: null };

function action(r: Rng, size: ChaosSize): ActionBody & { followUps: FollowUps } {
  const cluster = r.int(size.clusters);
  const kind = r.weighted<ActionKind>([
    ['reboot', 30],
    ['reweight', 18],
    ['upgrade', 10],
    ['pool_create', 10],
    ['pool_delete', 5],
    ['cancel', 10],
    ['pause', 5],
    ['resume', 5],
  ]);
  // A cancel 0–4 s after the 202 lands before, during or after the power-off of a reboot at the
  // default speed (shutdown 1 s, boot 3 s): early cancels and cancels during an ACPI shutdown.
  const cancel = (p: number) => ({ ...NO_FOLLOW_UPS, cancelAfterMs: r.chance(p) ? r.between(0, 4_000) : null });
  switch (kind) {
    case 'reboot':
      return {
        kind,
        cluster,
        host: r.int(size.hostsPerCluster),
        method: r.chance(0.6) ? 'graceful' : 'hard',
        followUps: cancel(0.4),
      };
    case 'reweight':
      return {
        kind,
        cluster,
        osd: r.int(size.hostsPerCluster * size.osdsPerHost),
        weight: r.chance(0.4) ? 0 : r.pick([0.5, 0.8, 1]),
        followUps: cancel(0.3),
      };
    case 'upgrade': {
      const followUps = cancel(0.25);
      if (followUps.cancelAfterMs === null && r.chance(0.4)) {
        followUps.pauseAfterMs = r.between(200, 3_000);
        followUps.resumeAfterMs = r.chance(0.7) ? r.between(500, 4_000) : null;
      }
      return { kind, cluster, mode: r.chance(0.5) ? 'restart' : 'upgrade', maxConcurrent: r.between(1, 2), followUps };
    }
    case 'pool_create':
      return {
        kind,
        cluster,
        pool: r.pick(POOL_NAMES),
        type: r.chance(0.7) ? 'replicated' : 'erasure',
        autoscale: r.chance(0.7),
        followUps: cancel(0.15),
      };
    case 'pool_delete':
      return { kind, cluster, pool: r.pick(POOL_NAMES), followUps: NO_FOLLOW_UPS };
    default:
      return { kind, pick: r.int(1_000), followUps: NO_FOLLOW_UPS };
  }
}

export function makePlan(seed: number, size: ChaosSize): ChaosPlan {
  const r = seededRng(seed);
  const clients: Action[][] = [];
  for (let c = 0; c < size.clients; c++) {
    const list: Action[] = [];
    for (let i = 0; i < size.actionsPerClient; i++)
      list.push({ thinkMs: r.between(size.thinkMs[0], size.thinkMs[1]), ...action(r, size) });
    clients.push(list);
  }
  // Kills land while the clients are busy: within the window, and within ~70 % of the pauses and
  // follow-up delays of the longest client (requests add their own time on top).
  const planned = Math.max(
    ...clients.map((l) =>
      l.reduce(
        (t, a) =>
          t +
          a.thinkMs +
          (a.followUps.cancelAfterMs ?? 0) +
          (a.followUps.pauseAfterMs ?? 0) +
          (a.followUps.resumeAfterMs ?? 0),
        0,
      ),
    ),
  );
  const window = Math.max(3_000, Math.min(size.killWindowMs, Math.round(planned * 0.7)));
  const kills: Kill[] = [];
  for (const process of PROCESS_NAMES) {
    for (let i = 0; i < size.kills[process]; i++)
      kills.push({ atMs: r.between(3_000, window), process, downMs: r.between(500, 3_000) });
  }
  kills.sort((a, b) => a.atMs - b.atMs);
  return { seed, size, clients, kills };
}
