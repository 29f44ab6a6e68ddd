/**
 * Installing or verifying a Ceph release's Debian packages on a host (docs/clusters.md §Deployers,
 * issue 10 decision 3). With an apt source configured for the release (NF_CEPH_APT_SOURCES) it is
 * written to /etc/apt/sources.list.d/nodefoundry-ceph.list and only that source is updated; without
 * one the host's own sources are used. Either way the installed binaries must then report the target
 * release, else the step fails for good with the host and what is installed. Packages already at the
 * target are only verified: no apt at all.
 */
import { FAILURE } from '../../lib/failures';
import { parseCephVersion, satisfiesTarget } from '../../lib/ceph-releases';
import { shellQuote } from '../driver-errors';
import { DriverError, type ShellSession } from '../types';

export const APT = 'DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y';
export const APT_SOURCE_FILE = '/etc/apt/sources.list.d/nodefoundry-ceph.list';
/** `apt-get update` of NodeFoundry's source only (other lists are kept, not refreshed). */
export const APT_UPDATE_OWN_SOURCE = `${APT} -o Dir::Etc::sourcelist=sources.list.d/nodefoundry-ceph.list -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 update`;
const DPKG_KEEP_CONFIG = '-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold';

/** Packages and the binary whose `--version` proves them, per daemon type. */
export const CEPH_PACKAGES = {
  mon: { packages: ['ceph-mon', 'ceph-base', 'ceph-common'], binary: 'ceph-mon' },
  mgr: { packages: ['ceph-mgr', 'ceph-base', 'ceph-common'], binary: 'ceph-mgr' },
  osd: { packages: ['ceph-osd', 'ceph-base', 'ceph-common', 'ceph-volume'], binary: 'ceph-osd' },
} as const;
export type CephPackageRole = keyof typeof CEPH_PACKAGES;
export const ALL_ROLES: CephPackageRole[] = ['mon', 'mgr', 'osd'];

export interface EnsureReleaseInput {
  host: string;
  /** "reef" or "18.2.7". */
  target: string;
  roles: CephPackageRole[];
  /** release → apt source line. */
  aptSources: Readonly<Record<string, string>>;
  /** `install` puts missing packages on; `upgrade` only upgrades installed ones (`--only-upgrade`). */
  mode: 'install' | 'upgrade';
  sudo: string;
  timeoutMs: number;
}

/** `<binary> --version` of each role (plus `ceph`), as "18.2.7 (reef)" or what went wrong. */
async function installed(
  s: ShellSession,
  input: EnsureReleaseInput,
): Promise<{ binary: string; text: string; ok: boolean }[]> {
  const target = parseCephVersion(input.target);
  if (!target) throw new DriverError(FAILURE.commandFailed, `unknown Ceph release or version ${input.target}`, false);
  const binaries = [...new Set([...input.roles.map((r) => CEPH_PACKAGES[r].binary), 'ceph'])];
  const out: { binary: string; text: string; ok: boolean }[] = [];
  for (const binary of binaries) {
    const res = await s.exec(`${binary} --version`, { timeoutMs: input.timeoutMs });
    const v = res.code === 0 ? parseCephVersion(res.stdout) : null;
    out.push({
      binary,
      text: v ? `${v.version} (${v.release})` : res.code === 127 ? 'not installed' : `unreadable (exit ${res.code})`,
      ok: v !== null && satisfiesTarget(v, target),
    });
  }
  return out;
}

/** Makes the host run the target release's packages for these roles; verify-only when they already do. */
export async function ensureRelease(s: ShellSession, input: EnsureReleaseInput): Promise<{ installed: boolean }> {
  if ((await installed(s, input)).every((b) => b.ok)) return { installed: false };
  const release = parseCephVersion(input.target)!.release;
  const source = input.aptSources[release];
  const long = { timeoutMs: Math.max(input.timeoutMs, 1_800_000) };
  const packages = [...new Set(input.roles.flatMap((r) => CEPH_PACKAGES[r].packages))];
  if (source) {
    await s.run(`${input.sudo}sh -c ${shellQuote(`echo ${shellQuote(source)} > ${APT_SOURCE_FILE}`)}`, {
      timeoutMs: input.timeoutMs,
    });
    await s.run(`${input.sudo}${APT_UPDATE_OWN_SOURCE}`, long);
    await s.run(`${input.sudo}${APT} ${DPKG_KEEP_CONFIG} install --no-install-recommends ${packages.join(' ')}`, long);
  } else if (input.mode === 'upgrade') {
    await s.run(`${input.sudo}${APT} install --only-upgrade ${packages.join(' ')}`, long);
  } else {
    await s.run(`${input.sudo}${APT} update`, long);
    await s.run(`${input.sudo}${APT} ${DPKG_KEEP_CONFIG} install --no-install-recommends ${packages.join(' ')}`, long);
  }
  const after = await installed(s, input);
  const wrong = after.filter((b) => !b.ok);
  if (wrong.length > 0) {
    throw new DriverError(
      FAILURE.commandFailed,
      `${input.host}: Ceph ${input.target} is not installed after apt-get (${source ? `source "${source}"` : "the host's own apt sources"}): ${wrong.map((b) => `${b.binary} ${b.text}`).join(', ')}`,
      false,
    );
  }
  return { installed: true };
}
