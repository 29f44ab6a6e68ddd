/**
 * The options of the ceph CLI driver and the context its per-concern modules (ceph-cli-lifecycle,
 * -pools, -reweight, -upgrade) build on. Apart from ceph-cli.ts, which composes those modules, so
 * that they depend on it only through this file and no import runs in a circle.
 */
import type { CephPackagesConfig } from '../../lib/config';
import { FAILURE } from '../../lib/failures';
import { DriverError, type ExecResult, type ShellSession } from '../types';

export interface CephCliOptions {
  /** A session on the admin node (keyring + ceph.conf). The driver closes every session it gets. */
  adminShell: () => Promise<ShellSession>;
  /** A session on an OSD host, by CRUSH host name, for systemctl. Closed after use. */
  hostShell: (host: string) => Promise<ShellSession>;
  /** Run ceph and systemctl through `sudo -n` (the SSH user is not root). */
  sudo?: boolean;
  /** `--connect-timeout` of every ceph call, seconds. */
  connectTimeoutSec?: number;
  /** Bound on one remote command. */
  commandTimeoutMs?: number;
  /**
   * systemd unit of an OSD. Package-based installs use `ceph-osd@N`; cephadm deployments name it
   * `ceph-<fsid>@osd.N`, so pass a function for those.
   */
  osdUnit?: (osdId: number) => string;
  /**
   * Before reading PG counts (status, osds, ok-to-stop), make the OSDs flush their PG stats and
   * wait up to this long for the mgr to hold them. 0 turns the flush off. Default 10 s.
   */
  pgStatsFlushMs?: number;
  /**
   * How the cluster is deployed (docs/clusters.md §Deployers): `packages` (default) drives Debian
   * packages and systemd units over SSH; `cephadm` drives `ceph orch` and cephadm's units.
   */
  deployment?: 'packages' | 'cephadm';
  /** The cluster's fsid when known: cephadm names its units after it (`ceph-<fsid>@osd.N`). */
  fsid?: string | null;
  /** Package deployer: apt sources per release, mon ports, daemon bind range (lib/config.ts). */
  packages?: CephPackagesConfig;
  /**
   * After an upgrade restarts a mon or mgr, how long `ceph <type> metadata` is polled for the new
   * version before redeployDaemon answers (`ceph mgr metadata` shows the old one for a moment after
   * the restart; spike pitfall 8). Default 60 s; poll interval `versionPollMs` (default 1 s).
   */
  versionWaitMs?: number;
  versionPollMs?: number;
}

/** What the per-concern CLI modules build on: one way to run ceph, classify failures, hold sessions. */
export interface CephCliContext {
  options: CephCliOptions;
  /** Runs `ceph <args> [-f json]` on the session; a non-zero exit throws a classified DriverError. */
  ceph(s: ShellSession, args: string[], json?: boolean): Promise<string>;
  cephCommand(args: string[], json: boolean): string;
  /** Exec options of `ceph <args>`: the command bound and the read's output limit (ceph-read-limits.ts). */
  execOptions(args: string[]): { timeoutMs: number; maxOutputBytes: number };
  cephFailure(args: string[], res: ExecResult): DriverError;
  withSession<T>(open: () => Promise<ShellSession>, fn: (s: ShellSession) => Promise<T>): Promise<T>;
  /** Throws unless `name` is a safe CRUSH/pool/host name for a command line. */
  checkName(name: string): void;
  /** `sudo -n ` or ''. */
  sudo: string;
  timeoutMs: number;
  /** Makes the mgr's PG stats current before they are read (see createCephCliDriver). */
  flushPgStats(s: ShellSession): Promise<void>;
}

/**
 * The systemd unit of an OSD for the deployer: Debian's `ceph-osd@N` (packages), cephadm's
 * `ceph-<fsid>@osd.N` (an fsid is then required).
 */
export function defaultOsdUnit(options: Pick<CephCliOptions, 'deployment' | 'fsid'>): (id: number) => string {
  if (options.deployment !== 'cephadm') return (id) => `ceph-osd@${id}`;
  return (id) => {
    if (!options.fsid || !/^[0-9a-f-]{36}$/.test(options.fsid))
      throw new DriverError(
        FAILURE.commandFailed,
        `cephadm cluster without a valid fsid: no unit for osd.${id}`,
        false,
      );
    return `ceph-${options.fsid}@osd.${id}`;
  };
}
