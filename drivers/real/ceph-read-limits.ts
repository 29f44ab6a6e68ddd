/**
 * How many bytes each `ceph` read may print (issue 14). One global cap (1 MiB until then) cut
 * `ceph osd dump` at ~1,200 OSDs; instead each read gets a limit sized to what it legitimately prints
 * at 5,000 OSDs on ~210 hosts with ~164,000 PGs, with at least 2× headroom. The sizes are measured on
 * answers built from real Ceph entries (test/helpers/ceph-scale.ts, docs/development.md §"Ceph read
 * limits"). A read that still prints more fails with the retryable `output_truncated` (ssh-shell.ts):
 * its output is dropped, never parsed cut.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** Reads not listed (fsid, settings, writes that print nothing or one line). */
export const DEFAULT_READ_LIMIT = 1 * MiB;

/**
 * Limit per command, by its leading words. The comment is the size measured at 5,000 OSDs; the
 * limit grows only with what grows with the cluster.
 */
export const CEPH_READ_LIMITS: ReadonlyArray<readonly [string, number]> = [
  // ~1 KiB: counts, not lists (pgs_by_state has a few dozen states at most, progress events a few).
  ['status', 1 * MiB],
  // ~2 KiB healthy. Ceph caps the mgr's PG detail lists (mon_health_max_detail) but not the OSD
  // map's: a line per down OSD (≈70 B, 350 KiB if all 5,000 are down), per flagged OSD, and per-OSD
  // BlueStore warnings can add up to a few MiB together.
  ['health detail', 8 * MiB],
  // 954 KiB: one node per OSD and per host.
  ['osd tree', 3 * MiB],
  // 1.6 MiB: one node per OSD.
  ['osd df', 4 * MiB],
  // 9 MiB: ~1.9 KiB per OSD (the per-OSD host and version only exist here).
  ['osd metadata', 24 * MiB],
  // 4.6 MiB: every OSD's addresses and xinfo, pools, pg_temp, upmaps. Read only where nothing
  // narrower carries what is needed (pg_temp for a drain's placement, an OSD's state).
  ['osd dump', 16 * MiB],
  // 20 MiB: one entry per PG (~125 B), for a drain's placement.
  ['pg dump pgs_brief', 48 * MiB],
  // 21 MiB with 10 heartbeat peers per OSD (each with back and front ping times): the stats
  // sequence per OSD, read by the PG stats flush (best effort when over its limit).
  ['pg dump osds', 64 * MiB],
  // 106 KiB: one `osd.N: seq` line per OSD.
  ['tell', 1 * MiB],
  // ~23 KiB for a host of 24 OSDs (the PGs that would become degraded); a rack of 500 OSDs ≈ 500 KiB.
  ['osd ok-to-stop', 4 * MiB],
  // ~3 KiB for five daemons.
  ['mon metadata', 1 * MiB],
  ['mgr metadata', 1 * MiB],
  ['mgr dump', 1 * MiB],
  ['versions', 1 * MiB],
  // ~2.5 KiB per pool.
  ['osd pool ls detail', 4 * MiB],
];

/** The output limit of `ceph <args>`. */
export function cephReadLimit(args: readonly string[]): number {
  const line = args.join(' ');
  let best: readonly [string, number] | undefined;
  for (const entry of CEPH_READ_LIMITS) {
    if ((line === entry[0] || line.startsWith(`${entry[0]} `)) && (!best || entry[0].length > best[0].length))
      best = entry;
  }
  return best ? best[1] : DEFAULT_READ_LIMIT;
}
