import {
  compareCephVersions,
  isExpectedUpgradeCheck,
  parseCephVersion,
  satisfiesTarget,
  upgradePathRefusal,
  type CephRelease,
  type ParsedCephVersion,
} from '../ceph-releases';
import { FAILURE } from '../failures';
import { isServing } from './node-status';
import type { OperationPlan, PlanRefusal, PlanStep } from './plan';

/** `restart` restarts every daemon at its current version (a rolling restart), host by host. */
export type UpgradeMode = 'upgrade' | 'restart';

/**
 * The running version of one daemon, or of `count` daemons of one type on one host running the same
 * version (summariseDaemonVersions: what the preflight returns, so that its result grows with the
 * hosts and versions, not with every OSD). Histories recorded before the summary carry one entry
 * per daemon with its `id`; the planner reads both the same way.
 */
export interface UpgradeDaemonFacts {
  type: 'mon' | 'mgr' | 'osd';
  /** The daemon's name (the mon/mgr id, or the OSD number as a string), in per-daemon entries only. */
  id?: string;
  host: string;
  /** "18.2.4". */
  version: string;
  /** "reef". */
  release: string;
  /** How many daemons this entry stands for (a summary entry); absent: one. */
  count?: number;
}

/**
 * One entry per (type, host, version): what the planner needs (the oldest running version; whether
 * some daemon of a type on a host is behind the target) without every daemon's name. At 4,320 OSDs
 * the per-daemon list was 429 KB of the preflight's result, in the history of every upgrade, and
 * would pass Temporal's 2 MB payload limit near 20,000 OSDs; the summary is about one entry per host.
 */
export function summariseDaemonVersions(daemons: readonly UpgradeDaemonFacts[]): UpgradeDaemonFacts[] {
  const groups = new Map<string, UpgradeDaemonFacts>();
  for (const d of daemons) {
    const key = JSON.stringify([d.type, d.host, d.version, d.release]);
    const g = groups.get(key);
    if (g) g.count = (g.count ?? 1) + (d.count ?? 1);
    else groups.set(key, { type: d.type, host: d.host, version: d.version, release: d.release, count: d.count ?? 1 });
  }
  return [...groups.values()];
}

export interface UpgradeHostFacts {
  hostname: string;
  nodeId: string | null;
  /** The node's status in NodeFoundry (null: Ceph knows a host NodeFoundry does not). */
  nodeStatus: string | null;
  held: boolean;
  osdIds: number[];
  osdsDown: number[];
  mon: boolean;
  mgr: boolean;
}

/** The live state an upgrade is planned from (a dry run and the real preflight read the same). */
export interface UpgradeFacts {
  clusterId: string;
  /** The release NodeFoundry recorded for the cluster. */
  cephVersion: string;
  health: 'HEALTH_OK' | 'HEALTH_WARN' | 'HEALTH_ERR';
  /** The health checks Ceph raises (code, severity, summary). Absent in old histories. */
  checks?: UpgradeHealthCheck[];
  mons: string[];
  monsInQuorum: string[];
  mgrActive: string | null;
  mgrStandbys: string[];
  hosts: UpgradeHostFacts[];
  daemons: UpgradeDaemonFacts[];
  noAutoscale: boolean;
  /** Hosts carrying noout before the upgrade (an operator's): never unset by it. Absent in old histories. */
  nooutHosts?: string[];
}

export interface UpgradeHealthCheck {
  code: string;
  severity: 'HEALTH_WARN' | 'HEALTH_ERR';
  summary: string;
}

/**
 * The ERR checks that stop an upgrade to `target`: every HEALTH_ERR check except those the upgrade
 * expects (isExpectedUpgradeCheck: AUTH_INSECURE_* and OSD_UPGRADE_FINISHED on the way to Tentacle
 * or later). A HEALTH_ERR without any check listed (an old reader) stops it as `HEALTH_ERR`.
 */
export function blockingErrChecks(
  health: 'HEALTH_OK' | 'HEALTH_WARN' | 'HEALTH_ERR',
  checks: readonly UpgradeHealthCheck[] | undefined,
  target: CephRelease | null,
): UpgradeHealthCheck[] {
  if (health !== 'HEALTH_ERR') return [];
  const errs = (checks ?? []).filter((c) => c.severity === 'HEALTH_ERR');
  if (errs.length === 0)
    return [{ code: 'HEALTH_ERR', severity: 'HEALTH_ERR', summary: 'the cluster reports HEALTH_ERR' }];
  return errs.filter((c) => !isExpectedUpgradeCheck(c.code, target));
}

/** "MON_DISK_CRIT (mons are very low on disk space), …" for a refusal or a pause. */
export function describeChecks(checks: readonly UpgradeHealthCheck[]): string {
  return checks.map((c) => (c.code === 'HEALTH_ERR' ? c.code : `${c.code} (${c.summary})`)).join(', ');
}

export interface UpgradeParams {
  /** A release name or x.y.z; absent in restart mode (the running version) and for "the next release". */
  targetVersion: string | null;
  mode: UpgradeMode;
  maxConcurrent: number;
  osPackages: boolean;
  /**
   * Upgrade around the members in maintenance (issue 13 #1): their daemons are left as they are and
   * the upgrade ends without `require-osd-release`. Without it a member in maintenance refuses the
   * upgrade. Absent in older histories (false).
   */
  skipMaintenance?: boolean;
}

/** One OSD host in the order the upgrade works on them. */
export interface PlannedHost {
  host: string;
  nodeId: string;
  osdIds: number[];
  mon: boolean;
}

export interface UpgradeSchedule {
  /** The version the daemons are moved to (restart mode: the one they run). */
  target: string;
  /** mgr daemons to redeploy: the standbys first, then the active one after a failover. */
  mgrStandbys: string[];
  mgrActive: string | null;
  /** mon daemons, one at a time. */
  mons: string[];
  hosts: PlannedHost[];
  /** Hosts left alone because they are in maintenance (`skip_maintenance`); absent in older runs. */
  skipped?: string[];
  /** Their OSDs (down while in maintenance: the hosts' gates allow them down). */
  skippedOsds?: number[];
}

const natural = new Intl.Collator('en', { numeric: true });

/**
 * The next batch from the front of the queue: at most `max` hosts and at most one mon host, so that
 * a host reboot can take no more than one mon out of quorum. The real run then shrinks it until
 * `ceph osd ok-to-stop` accepts the union of its OSDs.
 */
export function nextBatch<T extends { mon: boolean }>(queue: readonly T[], max: number): T[] {
  const batch: T[] = [];
  let mon = false;
  for (const h of queue) {
    if (batch.length >= max) break;
    if (h.mon && mon) continue;
    mon ||= h.mon;
    batch.push(h);
  }
  return batch;
}

/** All batches, as the real run would form them when ok-to-stop never shrinks one. */
export function planBatches<T extends { mon: boolean; host: string }>(queue: readonly T[], max: number): string[][] {
  let rest = [...queue];
  const out: string[][] = [];
  while (rest.length > 0) {
    const b = nextBatch(rest, max);
    out.push(b.map((h) => h.host));
    rest = rest.filter((h) => !b.includes(h));
  }
  return out;
}

/** The oldest version any daemon runs (an interrupted upgrade leaves a mix). */
function runningVersion(facts: UpgradeFacts): ParsedCephVersion | null {
  const parsed = facts.daemons
    .map((d) => parseCephVersion(d.version))
    .filter((p): p is ParsedCephVersion => p !== null);
  if (parsed.length === 0) return parseCephVersion(facts.cephVersion);
  return parsed.reduce((a, b) => (compareCephVersions(a, b) <= 0 ? a : b));
}

/**
 * The upgrade as a plan: refusals, the order of daemons and hosts, the batches. The workflow runs
 * exactly this schedule and a dry run returns it, so the two cannot disagree.
 */
export function upgradePlan(
  facts: UpgradeFacts,
  params: UpgradeParams,
): { plan: OperationPlan<'cluster.upgrade'>; schedule: UpgradeSchedule } {
  const refusals: PlanRefusal[] = [];
  const current = runningVersion(facts);
  let target: ParsedCephVersion | null = null;
  if (params.mode === 'restart') {
    target = current;
    if (params.targetVersion && current && parseCephVersion(params.targetVersion)?.release !== current.release) {
      refusals.push({
        code: FAILURE.invalidState,
        message: `A rolling restart keeps the running version (${current.version ?? current.release}); ceph_version ${params.targetVersion} asks for an upgrade.`,
      });
    }
  } else if (params.targetVersion) {
    target = parseCephVersion(params.targetVersion);
    if (!target)
      refusals.push({ code: FAILURE.unknownVersion, message: `Unknown Ceph version ${params.targetVersion}.` });
  } else if (current) {
    // No version asked: the next release, the supported step.
    target = parseCephVersion(String(current.major + 1).concat('.2.0'));
    if (target) target = { ...target, version: null };
    else
      refusals.push({
        code: FAILURE.unknownVersion,
        message: `No release after ${current.release} is known; give ceph_version.`,
      });
  }
  if (!current) refusals.push({ code: FAILURE.unknownVersion, message: 'The running Ceph version could not be read.' });
  if (target && current && params.mode === 'upgrade') {
    if (compareCephVersions(target, current) < 0 && !(target.version === null && target.release === current.release)) {
      refusals.push({
        code: FAILURE.downgradeRefused,
        message: `Downgrades are not supported: the cluster runs ${current.version ?? current.release} (${current.release}), ${params.targetVersion} is older.`,
      });
    } else {
      const path = upgradePathRefusal(current.release, target.release);
      if (path) refusals.push({ code: FAILURE.versionJumpTooLarge, message: `${path} Upgrade in steps.` });
    }
  }
  // Preflight refuses a real HEALTH_ERR; the checks Tentacle raises for old cephx keys are expected
  // on the way to it (docs/upgrades.md §Tentacle and cephx) and do not count.
  const blocking = blockingErrChecks(
    facts.health,
    facts.checks,
    params.mode === 'upgrade' ? (target?.release ?? null) : (current?.release ?? null),
  );
  if (blocking.length > 0)
    refusals.push({
      code: FAILURE.healthErr,
      message: `The cluster reports HEALTH_ERR (${describeChecks(blocking)}); resolve it before upgrading.`,
    });
  const outOfQuorum = facts.mons.filter((m) => !facts.monsInQuorum.includes(m));
  if (outOfQuorum.length > 0) {
    refusals.push({
      code: FAILURE.monOutOfQuorum,
      message: `mon ${outOfQuorum.join(', ')} ${outOfQuorum.length === 1 ? 'is' : 'are'} out of quorum.`,
    });
  }
  // A member in maintenance has its OSDs stopped (maybe no power): refused by name, or with
  // skip_maintenance left out of the upgrade entirely (its mgr, mon and OSDs stay as they are).
  const maintenance = facts.hosts.filter((h) => h.nodeStatus === 'maintenance').map((h) => h.hostname);
  if (maintenance.length > 0 && !params.skipMaintenance)
    refusals.push({
      code: FAILURE.nodeInMaintenance,
      message: `Host ${maintenance.join(', ')} ${maintenance.length === 1 ? 'is' : 'are'} in maintenance; end it first, or ask for skip_maintenance to upgrade around ${maintenance.length === 1 ? 'it' : 'them'}.`,
    });
  const skipped = params.skipMaintenance ? maintenance : [];
  // isServing: `online`, or `active` as recorded histories from before the rename say (lib/node-status.ts).
  // A node the cluster monitor marked `offline` (SSH or BMC not answering) is refused here by name.
  const offline = facts.hosts.filter(
    (h) =>
      h.nodeStatus !== 'maintenance' &&
      (h.nodeId === null ||
        (h.nodeStatus !== 'ready' && !isServing(h.nodeStatus)) ||
        (h.osdIds.length > 0 && h.osdsDown.length === h.osdIds.length)),
  );
  if (offline.length > 0) {
    const why = (h: (typeof offline)[number]) =>
      h.nodeId === null
        ? `${h.hostname} (no node)`
        : h.nodeStatus !== 'ready' && !isServing(h.nodeStatus)
          ? `${h.hostname} (node ${h.nodeStatus ?? 'unknown'})`
          : `${h.hostname} (every OSD down)`;
    refusals.push({
      code: FAILURE.hostOffline,
      message: `Host ${offline.map(why).join(', ')} ${offline.length === 1 ? 'is' : 'are'} offline; an upgrade needs every host online.`,
    });
  }
  const mgrCount = (facts.mgrActive ? 1 : 0) + facts.mgrStandbys.length;
  if (mgrCount < 2)
    refusals.push({
      code: FAILURE.tooFewMgrs,
      message: `${mgrCount} mgr running; an upgrade needs at least 2 so that one stays active while the other restarts.`,
    });
  const held = facts.hosts.filter((h) => h.held);
  if (held.length > 0)
    refusals.push({
      code: FAILURE.nodeHeld,
      message: `Node ${held.map((h) => h.hostname).join(', ')} ${held.length === 1 ? 'is' : 'are'} on hold.`,
    });

  const targetText = target ? (target.version ?? target.release) : (params.targetVersion ?? 'unknown');
  const needs = (type: 'mon' | 'mgr' | 'osd', host: string, id?: string) => {
    if (params.mode === 'restart') return true;
    const d = facts.daemons.filter((x) => x.type === type && x.host === host && (id === undefined || x.id === id));
    return d.some((x) => {
      const p = parseCephVersion(x.version);
      return !p || !target || !satisfiesTarget(p, target);
    });
  };
  const kept = (host: string) => !skipped.includes(host);
  const mgrStandbys = facts.mgrStandbys.filter((h) => kept(h) && needs('mgr', h)).sort(natural.compare);
  const mgrActive = facts.mgrActive && kept(facts.mgrActive) && needs('mgr', facts.mgrActive) ? facts.mgrActive : null;
  const mons = facts.mons.filter((h) => kept(h) && needs('mon', h)).sort(natural.compare);
  const hosts: PlannedHost[] = facts.hosts
    .filter(
      (h) =>
        h.nodeId !== null &&
        kept(h.hostname) &&
        (params.osPackages || (h.osdIds.length > 0 && needs('osd', h.hostname))),
    )
    .map((h) => ({ host: h.hostname, nodeId: h.nodeId!, osdIds: h.osdIds, mon: h.mon }));
  const batches = planBatches(hosts, params.maxConcurrent);
  const verb = params.mode === 'restart' ? 'restart' : `upgrade to ${targetText}`;

  const steps: PlanStep[] = [
    {
      name: 'preflight',
      description: 'Read health, quorum, mgrs, hosts and daemon versions; refuse before changing anything.',
      checks: [
        'not HEALTH_ERR (other than AUTH_INSECURE_* and OSD_UPGRADE_FINISHED on the way to tentacle or later)',
        'every mon in quorum',
        'no host offline',
        '≥ 2 mgrs',
        'no downgrade',
        'a supported upgrade path (reef → squid | tentacle, squid → tentacle; older: ≤ 2 majors)',
        'no node held',
        skipped.length > 0
          ? `in maintenance, left as they are: ${skipped.join(', ')}`
          : 'no node in maintenance (unless skip_maintenance)',
      ],
    },
    {
      name: 'freeze_autoscale',
      description:
        "Freeze PG autoscaling: each pool's mode recorded in ceph config-key, then set off; read back (restored at the end, after a cancel too).",
      checks: ['freeze reported'],
    },
    {
      name: 'upgrade_mgrs',
      description:
        mgrStandbys.length + (mgrActive ? 1 : 0) === 0
          ? 'Every mgr already runs the target.'
          : `${verb}: standby mgr ${mgrStandbys.join(', ') || '(none)'} first, then ceph mgr fail${mgrActive ? ` and mgr ${mgrActive}` : ''}.`,
      checks: ['daemon runs the target', 'a standby took over after ceph mgr fail'],
    },
    {
      name: 'upgrade_mons',
      description:
        mons.length === 0 ? 'Every mon already runs the target.' : `${verb}: mon ${mons.join(', ')}, one at a time.`,
      checks: ['ceph mon ok-to-stop before each', 'the mon is back in quorum at the target before the next'],
    },
    {
      name: 'upgrade_osd_hosts',
      description: `${hosts.length} host(s) in ${batches.length} batch(es) of at most ${params.maxConcurrent}, one child workflow per host: ok-to-stop, set-group noout (asserted), stop OSDs, ${params.mode === 'restart' ? 'restart' : 'upgrade packages'}${params.osPackages ? ' + OS packages, reboot' : ''}, OSDs up, unset noout, PGs active+clean.`,
      checks: [
        'not HEALTH_ERR before each batch',
        'ceph osd ok-to-stop for the union of the batch (the batch shrinks until it passes)',
        'at most one mon host per batch',
        'any failure pauses the upgrade with its reason',
        ...(params.mode === 'upgrade'
          ? [
              ...(skipped.length > 0
                ? [
                    `after the last host: ceph osd require-osd-release is not set (${skipped.join(', ')} stay on the old release); upgrade again once their maintenance ends`,
                  ]
                : [
                    'after the last host: every mon, mgr and OSD reports the target (a daemon behind fails this step, named)',
                    `then ceph osd require-osd-release ${target?.release ?? targetText}`,
                  ]),
            ]
          : []),
      ],
    },
    {
      name: 'restore_autoscale',
      description: "Restore each frozen pool's autoscale mode, remove the record (only if this upgrade froze it).",
      checks: ['freeze gone'],
    },
    { name: 'refresh_state', description: 'Record the cluster state and version.', checks: [] },
  ];
  return {
    plan: {
      type: 'cluster.upgrade',
      would_run: refusals.length === 0,
      refusals,
      steps,
      batches,
      facts: {
        cluster_id: facts.clusterId,
        mode: params.mode,
        running_version: current ? (current.version ?? current.release) : null,
        target_version: targetText,
        health: facts.health,
        mons: facts.mons,
        mons_in_quorum: facts.monsInQuorum,
        mgr_active: facts.mgrActive,
        mgr_standbys: facts.mgrStandbys,
        hosts_total: hosts.length,
        max_concurrent: params.maxConcurrent,
        os_packages: params.osPackages,
        noautoscale_already_set: facts.noAutoscale,
        ...(skipped.length > 0 ? { skipped_hosts: skipped } : {}),
      },
    },
    schedule: {
      target: targetText,
      mgrStandbys,
      mgrActive,
      mons,
      hosts,
      ...(skipped.length > 0
        ? {
            skipped,
            skippedOsds: facts.hosts.filter((h) => skipped.includes(h.hostname)).flatMap((h) => h.osdIds),
          }
        : {}),
    },
  };
}
