import { describe, expect, it } from 'vitest';
import { generateSecretKey, loadConfig } from '../../lib/config';
import { isOutcomeUnknown, type RequestRecord } from '../../scripts/chaos/client';
import {
  checkInvariants,
  powerTransitions,
  type Evidence,
  type Invariant,
  type OpEvidence,
} from '../../scripts/chaos/invariants';
import { FULL_SIZE, makePlan, SHORT_SIZE } from '../../scripts/chaos/plan';
import { childEnv } from '../../scripts/chaos/processes';
import { CHAOS_SETTLE_GRACE_MS, CHAOS_SETTLE_INTERVAL_MS, chaosAppEnv } from '../../scripts/chaos/run';

/**
 * The chaos suite's checker over doctored evidence: a clean state passes, and each broken state is
 * named by its invariant (the full run shows the same end to end with --break, test/chaos/).
 */
const T = 1_000_000;
const steps = (reached: string[]) =>
  ['preflight', 'set_noout', 'stop_osds', 'power_off', 'power_on'].map((name) => ({
    name,
    status: reached.includes(name) ? 'completed' : 'pending',
    started_at: reached.includes(name) ? 'x' : null,
  }));

function op(over: Partial<OpEvidence> & { id: string }): OpEvidence {
  return {
    type: 'node.reboot',
    status: 'completed',
    viewStatus: null,
    request_id: `rid-${over.id}`,
    node_id: 'node_a',
    cluster_id: 'clus_1',
    osd_id: null,
    params: { method: 'graceful' },
    steps: steps(['preflight', 'set_noout', 'stop_osds', 'power_off', 'power_on']),
    error: null,
    lastLogs: [],
    created_at: T,
    completed_at: T + 10_000,
    ...over,
  };
}

function request(rid: string, over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    rid,
    client: 0,
    kind: 'reboot',
    method: 'POST',
    path: '/v1/nodes/node_a/reboot',
    body: {},
    attempts: [{ at: T, ms: 20, status: 202, code: null, error: null }],
    final: { status: 202, code: null, operationId: null },
    operationIds: [],
    ...over,
  };
}

function clean(): Evidence {
  return {
    startedAt: T - 5_000,
    endedAt: T + 100_000,
    requests: [
      request('rid-op_1', { final: { status: 202, code: null, operationId: 'op_1' }, operationIds: ['op_1'] }),
    ],
    downtimes: [
      { process: 'api', from: T + 30_000, to: T + 33_000, cause: 'kill' },
      { process: 'temporal', from: T + 40_000, to: T + 45_000, cause: 'kill' },
    ],
    operations: [
      op({ id: 'op_1' }),
      // Cancelled before power_off: no command.
      op({
        id: 'op_2',
        status: 'cancelled',
        created_at: T + 20_000,
        completed_at: T + 21_000,
        steps: steps(['preflight']),
      }),
      // Cancelled during a hard power-off: off, then on again by compensation.
      op({
        id: 'op_3',
        status: 'cancelled',
        params: { method: 'hard' },
        created_at: T + 50_000,
        completed_at: T + 60_000,
        steps: steps(['preflight', 'set_noout', 'stop_osds', 'power_off']),
      }),
      op({
        id: 'op_4',
        type: 'osd.reweight',
        node_id: null,
        osd_id: 1,
        params: { osd_id: 1, weight: 0 },
        steps: [],
        completed_at: T + 15_000,
      }),
      op({
        id: 'op_5',
        type: 'osd.reweight',
        node_id: null,
        osd_id: 0,
        params: { osd_id: 0, weight: 0 },
        status: 'cancelled',
        steps: [],
      }),
    ],
    locks: [],
    machines: [
      {
        nodeId: 'node_a',
        hostname: 'h1',
        clusterId: 'clus_1',
        power_state: 'on',
        shutting_down: false,
        running: true,
        shutdown_delay_ms: 1_000,
        powerLog: [
          { action: 'soft', at: T + 2_000 },
          { action: 'soft', at: T + 2_500 }, // a retried soft while shutting down: still one cycle
          { action: 'on', at: T + 5_000 },
          { action: 'off', at: T + 52_000 },
          { action: 'on', at: T + 55_000 },
        ],
      },
    ],
    clusters: [
      {
        id: 'clus_1',
        nooutHosts: [],
        flags: [],
        osds: [
          { id: 0, host: 'h1', up: true, in: true, crush_weight: 1.81898 },
          { id: 1, host: 'h1', up: true, in: true, crush_weight: 0 },
        ],
        initialWeights: { 0: 1.81898, 1: 1.81898 },
        noautoscale: false,
        cephPools: [{ name: 'p', pg_autoscale_mode: 'off' }],
      },
    ],
    rows: {
      pools: [{ id: 'pool_1', cluster_id: 'clus_1', name: 'p', status: 'active', pg_autoscale: false }],
      nodes: [{ id: 'node_a', hostname: 'h1', status: 'online' }],
      clusters: [{ id: 'clus_1', status: 'HEALTH_OK' }],
    },
  };
}

const named = (e: Evidence): Invariant[] => [...new Set(checkInvariants(e).map((v) => v.invariant))];

describe('chaos invariants', () => {
  it('a clean state passes', () => {
    expect(checkInvariants(clean())).toEqual([]);
  });

  const broken: [Invariant, (e: Evidence) => void][] = [
    ['terminal', (e) => void (e.operations[0]!.status = 'in_progress')],
    ['terminal', (e) => void (e.operations[0]!.viewStatus = 'in_progress')],
    ['answered', (e) => void (e.requests[0]!.final = null)],
    // Answered only after a 5-minute takeover of the Idempotency-Key.
    [
      'answered',
      (e) =>
        e.requests[0]!.attempts.unshift({
          at: T - 300_000,
          ms: 5,
          status: 409,
          code: 'idempotency_in_progress',
          error: null,
        }),
    ],
    [
      'no_5xx',
      (e) => e.requests[0]!.attempts.unshift({ at: T - 100, ms: 10, status: 500, code: 'internal_error', error: null }),
    ],
    [
      'no_5xx',
      (e) =>
        e.requests[0]!.attempts.unshift({
          at: T + 20_000,
          ms: 10,
          status: 503,
          code: 'service_unavailable',
          error: null,
        }),
    ],
    ['idempotency', (e) => void (e.operations[1]!.request_id = 'rid-op_1')],
    ['idempotency', (e) => e.requests[0]!.operationIds.push('op_9')],
    // Cancelled during the ACPI shutdown: the power-on was skipped (the machine still read "on").
    [
      'power_cycle',
      (e) => {
        e.operations[1]!.steps = steps(['preflight', 'set_noout', 'stop_osds', 'power_off']);
        e.machines[0]!.powerLog.splice(3, 0, { action: 'soft', at: T + 20_500 });
      },
    ],
    ['power_cycle', (e) => e.machines[0]!.powerLog.splice(3, 0, { action: 'soft', at: T + 20_500 })], // early cancel that touched power
    ['power_cycle', (e) => void e.machines[0]!.powerLog.splice(2, 1)], // completed without power-on
    ['stray_power', (e) => e.machines[0]!.powerLog.push({ action: 'on', at: T + 80_000 })],
    ['machines_on', (e) => void (e.machines[0]!.shutting_down = true)],
    ['locks', (e) => e.locks.push({ resource_id: 'node_a', operation_id: 'op_1' })],
    ['noout', (e) => e.clusters[0]!.nooutHosts.push('h1')],
    ['noout', (e) => e.clusters[0]!.flags.push('noout')],
    ['osds_up', (e) => void (e.clusters[0]!.osds[0]!.up = false)],
    ['crush_weights', (e) => void (e.clusters[0]!.osds[0]!.crush_weight = 0)], // a cancelled drain left at 0
    ['crush_weights', (e) => void (e.clusters[0]!.osds[1]!.crush_weight = 1.81898)], // a completed drain undone
    ['autoscale', (e) => void (e.clusters[0]!.noautoscale = true)],
    ['autoscale', (e) => void (e.clusters[0]!.cephPools[0]!.pg_autoscale_mode = 'on')],
    ['rows_settled', (e) => void (e.rows.pools[0]!.status = 'deleting')],
  ];
  for (const [inv, doctor] of broken) {
    it(`names ${inv}: ${doctor.toString().slice(7, 90)}`, () => {
      const e = clean();
      doctor(e);
      expect(named(e)).toContain(inv);
    });
  }

  it('gives a command sent right after a reboot ended to the next reboot of that node', () => {
    const e = clean();
    e.operations.push(op({ id: 'op_6', created_at: T + 10_200, completed_at: T + 18_000 }));
    e.machines[0]!.powerLog.splice(3, 0, { action: 'soft', at: T + 10_600 }, { action: 'on', at: T + 13_000 });
    expect(checkInvariants(e)).toEqual([]);
  });

  it('allows a 5xx while the API was dead, and 503 service_unavailable while Temporal was (re)starting', () => {
    const e = clean();
    e.requests[0]!.attempts.unshift({ at: T + 31_000, ms: 10, status: 502, code: null, error: null });
    e.requests[0]!.attempts.unshift({ at: T + 46_000, ms: 10, status: 503, code: 'service_unavailable', error: null });
    expect(checkInvariants(e)).toEqual([]);
  });

  it('with two APIs (--topology), excuses a 5xx only from the API that was dead, not from the live one', () => {
    const e = clean();
    e.downtimes[0] = { process: 'api', instance: 'api-2', from: T + 30_000, to: T + 33_000, cause: 'kill' };
    // The dead API's attempt is excused ...
    e.requests[0]!.attempts.unshift({ at: T + 31_000, ms: 10, status: 502, code: null, error: null, target: 'api-2' });
    expect(checkInvariants(e)).toEqual([]);
    // ... the live API's 5xx in the same window is not.
    e.requests[0]!.attempts.unshift({
      at: T + 31_500,
      ms: 10,
      status: 500,
      code: 'internal_error',
      error: null,
      target: 'api-1',
    });
    expect(named(e)).toEqual(['no_5xx']);
  });

  /** clean() with each power command naming the reboot that sent it, as the sandbox now records. */
  const withIds = (): Evidence => {
    const e = clean();
    const ids = ['op_1', 'op_1', 'op_1', 'op_3', 'op_3'];
    e.machines[0]!.powerLog.forEach((c, i) => (c.operationId = ids[i]!));
    return e;
  };

  it('attributes power commands by the operation id they carry', () => {
    expect(checkInvariants(withIds())).toEqual([]);
    // A command a drain sent inside a reboot's time window is not that reboot's (by time it was).
    const e = withIds();
    e.machines[0]!.powerLog.splice(3, 0, { action: 'on', at: T + 6_000, operationId: 'op_4' });
    expect(checkInvariants(e).map((v) => [v.invariant, v.evidence.operation_id])).toEqual([['stray_power', 'op_4']]);
  });

  it('names a command its reboot sent after it ended, even while the next reboot of the node runs', () => {
    const e = withIds();
    e.operations.push(
      op({
        id: 'op_6',
        status: 'cancelled',
        created_at: T + 12_000,
        completed_at: T + 18_000,
        steps: steps(['preflight']),
      }),
    );
    e.machines[0]!.powerLog.splice(3, 0, { action: 'on', at: T + 14_000, operationId: 'op_1' });
    expect(checkInvariants(e).map((v) => v.invariant)).toEqual(['stray_power']);
    expect(checkInvariants(e)[0]!.message).toContain('after it ended');
    // The same command without an id falls back to time: then it is op_6's (cancelled before its power_off).
    delete e.machines[0]!.powerLog[3]!.operationId;
    expect(checkInvariants(e).map((v) => v.invariant)).toEqual(['power_cycle']);
  });

  it("gives an upgrade's host reboot commands (named by the upgrade) to an os_packages upgrade only", () => {
    const e = withIds();
    const upgrade = op({
      id: 'op_7',
      type: 'cluster.upgrade',
      node_id: null,
      params: { os_packages: true },
      steps: [],
      created_at: T + 70_000,
      completed_at: T + 90_000,
    });
    e.operations.push(upgrade);
    e.machines[0]!.powerLog.push(
      { action: 'soft', at: T + 72_000, operationId: 'op_7' },
      { action: 'on', at: T + 76_000, operationId: 'op_7' },
    );
    expect(checkInvariants(e)).toEqual([]);
    upgrade.params = { os_packages: false };
    expect(named(e)).toEqual(['stray_power']);
  });

  it("accepts the API's outcome-unknown answer (503 naming the operation) when the retry meets that operation", () => {
    const unknown = {
      at: T + 20_000,
      ms: 10,
      status: 503,
      code: 'service_unavailable',
      error: null,
      operationId: 'op_1',
    };
    expect(isOutcomeUnknown(unknown)).toBe(true);
    expect(isOutcomeUnknown({ ...unknown, operationId: null })).toBe(false);
    expect(isOutcomeUnknown({ ...unknown, code: 'internal_error' })).toBe(false);
    const e = clean();
    e.requests[0]!.attempts.unshift(unknown);
    expect(checkInvariants(e)).toEqual([]);
    // The retry answered with another operation: the request ran twice.
    e.operations.push(op({ id: 'op_9', request_id: 'rid-op_1', node_id: 'node_b' }));
    e.requests[0]!.final = { status: 202, code: null, operationId: 'op_9' };
    expect(named(e)).toEqual(['idempotency']);
    // …unless the first one ended not_started (nothing changed, the key was released).
    e.operations[0]!.status = 'failed';
    e.operations[0]!.error = { code: 'not_started', message: 'x' };
    e.operations[0]!.steps = steps([]);
    e.machines[0]!.powerLog = [];
    expect(checkInvariants(e)).toEqual([]);
  });

  it('runs the settler often in a chaos run: the worker gets NF_SETTLE_INTERVAL_MS and NF_SETTLE_GRACE_MS', () => {
    const app = chaosAppEnv({
      databaseUrl: 'postgres://x@127.0.0.1/db',
      temporalPort: 7233,
      temporalUiPort: 8233,
      secret: 'k',
      speed: 0.1,
    });
    // The run's values win over whatever the shell exported.
    const env = childEnv({ NF_SETTLE_INTERVAL_MS: '0', NF_SETTLE_GRACE_MS: '600000', VITEST: 'true' }, app, 3000);
    expect(env).toMatchObject({
      NF_SETTLE_INTERVAL_MS: String(CHAOS_SETTLE_INTERVAL_MS),
      NF_SETTLE_GRACE_MS: String(CHAOS_SETTLE_GRACE_MS),
    });
    expect(env.VITEST).toBeUndefined();
    const { settle } = loadConfig({ ...env, NF_SECRET_KEY: generateSecretKey() });
    expect(settle).toEqual({ intervalMs: 5_000, graceMs: 15_000 });
  });

  it('models the chassis: an `on` during an ACPI shutdown does not stop it', () => {
    expect(
      powerTransitions(
        [
          { action: 'soft', at: 0 },
          { action: 'on', at: 500 },
        ],
        1_000,
      ),
    ).toEqual([{ to: 'off', at: 1_000, cause: 0 }]);
    expect(
      powerTransitions(
        [
          { action: 'soft', at: 0 },
          { action: 'on', at: 1_500 },
        ],
        1_000,
      ),
    ).toEqual([
      { to: 'off', at: 1_000, cause: 0 },
      { to: 'on', at: 1_500, cause: 1 },
    ]);
    expect(
      powerTransitions(
        [
          { action: 'off', at: 0 },
          { action: 'off', at: 10 },
          { action: 'on', at: 20 },
        ],
        1_000,
      ),
    ).toEqual([
      { to: 'off', at: 0, cause: 0 },
      { to: 'on', at: 20, cause: 2 },
    ]);
  });
});

describe('chaos plan', () => {
  it('is a function of the seed and the size', () => {
    expect(makePlan(7, SHORT_SIZE)).toEqual(makePlan(7, SHORT_SIZE));
    expect(makePlan(7, SHORT_SIZE)).not.toEqual(makePlan(8, SHORT_SIZE));
    const p = makePlan(7, FULL_SIZE);
    expect(p.clients).toHaveLength(FULL_SIZE.clients);
    expect(p.clients.every((c) => c.length === FULL_SIZE.actionsPerClient)).toBe(true);
    expect(p.kills.filter((k) => k.process === 'temporal')).toHaveLength(FULL_SIZE.kills.temporal);
    expect(p.kills.every((k, i) => i === 0 || k.atMs >= p.kills[i - 1]!.atMs)).toBe(true);
  });
});
