/**
 * Ceph releases in order, and how version strings map to them. Pure and dependency-free: used by
 * the upgrade planner (inside workflows), the API's validation and both Ceph drivers.
 */

export const CEPH_RELEASES = ['nautilus', 'octopus', 'pacific', 'quincy', 'reef', 'squid', 'tentacle'] as const;
export type CephRelease = (typeof CEPH_RELEASES)[number];

/** Major version number of each release (nautilus = 14 … tentacle = 20). */
const FIRST_MAJOR = 14;

/** The point version the sandbox runs for each release, and the build hash `ceph versions` prints with it. */
export const SANDBOX_RELEASE_VERSIONS: Record<CephRelease, { version: string; sha: string }> = {
  nautilus: { version: '14.2.22', sha: 'ca74598065096e6fcbd8433c8779a2be0c889351' },
  octopus: { version: '15.2.17', sha: '8a82819d84cf884bd39c17e3236e0632ac146dc4' },
  pacific: { version: '16.2.15', sha: '618f440892089921c3e944a991122ddc44e60516' },
  quincy: { version: '17.2.8', sha: 'f817ceb7f187defb1d021d6328fa833eb8e943b3' },
  reef: { version: '18.2.4', sha: 'e7ad5345525c7aa95470c26863873b581076945d' },
  squid: { version: '19.2.2', sha: '0eceb0defba60152a8182f7bd87d164b639885b8' },
  tentacle: { version: '20.2.0', sha: '69f84cc2651aa259a15bc192ddaabd3baba07489' },
};

export function isCephRelease(s: string): s is CephRelease {
  return (CEPH_RELEASES as readonly string[]).includes(s);
}

export function releaseOfMajor(major: number): CephRelease | null {
  return CEPH_RELEASES[major - FIRST_MAJOR] ?? null;
}

export function majorOf(release: CephRelease): number {
  return CEPH_RELEASES.indexOf(release) + FIRST_MAJOR;
}

export interface ParsedCephVersion {
  /** "18.2.4", or null when only a release name was given. */
  version: string | null;
  release: CephRelease;
  major: number;
}

/**
 * Parses "squid", "19.2.2" or Ceph's own "ceph version 19.2.2 (<sha>) squid (stable)". Null when the
 * string names no known release.
 */
export function parseCephVersion(s: string): ParsedCephVersion | null {
  const text = s.trim();
  if (isCephRelease(text)) return { version: null, release: text, major: majorOf(text) };
  const m = /(?:^|ceph version )(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!m) return null;
  const major = Number(m[1]);
  const release = releaseOfMajor(major);
  if (!release) return null;
  return { version: `${m[1]}.${m[2]}.${m[3]}`, release, major };
}

/** Orders versions: negative when a < b. A bare release name sorts as its first point version. */
export function compareCephVersions(a: ParsedCephVersion, b: ParsedCephVersion): number {
  const pa = (a.version ?? `${a.major}.0.0`).split('.').map(Number);
  const pb = (b.version ?? `${b.major}.0.0`).split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i]! !== pb[i]!) return pa[i]! - pb[i]!;
  return 0;
}

/** Whether a daemon running `running` already satisfies the target (same release, and the same version when one was given). */
export function satisfiesTarget(running: ParsedCephVersion, target: ParsedCephVersion): boolean {
  if (target.version === null) return running.release === target.release;
  return running.version === target.version;
}

/** The full string `ceph versions` prints for a sandbox daemon of this release or version. */
export function sandboxVersionString(target: string): string {
  const p = parseCephVersion(target);
  if (!p) return target;
  const known = SANDBOX_RELEASE_VERSIONS[p.release];
  const version = p.version ?? known.version;
  const sha = version === known.version ? known.sha : known.sha.split('').reverse().join('');
  return `ceph version ${version} (${sha}) ${p.release} (stable)`;
}

/**
 * Ceph's supported upgrade paths from the releases NodeFoundry creates (docs/upgrades.md
 * §Releases and paths): reef → squid, reef → tentacle, squid → tentacle. Older releases keep
 * Ceph's general rule, at most two majors at a time.
 */
export const SUPPORTED_UPGRADES: Readonly<Partial<Record<CephRelease, readonly CephRelease[]>>> = {
  reef: ['squid', 'tentacle'],
  squid: ['tentacle'],
  tentacle: [],
};

/** The releases a cluster running `from` may be upgraded to in one step. */
export function supportedUpgradeTargets(from: CephRelease): CephRelease[] {
  const listed = SUPPORTED_UPGRADES[from];
  if (listed) return [...listed];
  const major = majorOf(from);
  return CEPH_RELEASES.filter((r) => majorOf(r) > major && majorOf(r) <= major + 2);
}

/**
 * Why `from` → `to` is not a supported upgrade, naming the supported next step; null when it is
 * (a point upgrade within one release included). Downgrades are refused by the caller first.
 */
export function upgradePathRefusal(from: CephRelease, to: CephRelease): string | null {
  if (majorOf(to) <= majorOf(from)) return null;
  const targets = supportedUpgradeTargets(from);
  if (targets.includes(to)) return null;
  const next =
    targets.length === 0
      ? `no newer release is supported from ${from}`
      : `${targets.map((t) => `${from} → ${t}`).join(' or ')} ${targets.length === 1 ? 'is the supported next step' : 'are the supported next steps'}`;
  return `${from} → ${to} is not a supported Ceph upgrade path (${majorOf(to) - majorOf(from)} major releases): ${next}.`;
}

/** Tentacle (20) or later: the first release that raises AUTH_INSECURE_* for old cephx key types. */
export function isTentacleOrLater(release: CephRelease): boolean {
  return majorOf(release) >= majorOf('tentacle');
}

/**
 * Health checks a cluster raises as a matter of course while it is being upgraded to `target`:
 * Tentacle's AUTH_INSECURE_* (cephx keys of the older type, until an operator rotates them;
 * docs/upgrades.md) and OSD_UPGRADE_FINISHED (every OSD is newer than require_osd_release, until
 * the upgrade's last step sets it). The upgrade's HEALTH_ERR gate does not stop for them.
 */
export function isExpectedUpgradeCheck(code: string, target: CephRelease | null): boolean {
  if (!target || !isTentacleOrLater(target)) return false;
  return code.startsWith('AUTH_INSECURE_') || code === 'OSD_UPGRADE_FINISHED';
}
