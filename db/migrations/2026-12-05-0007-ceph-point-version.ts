import { sql, type Kysely } from 'kysely';

// Frozen once landed. Issue 12 #4: one `ceph_version` vocabulary. `clusters.ceph_version` is a
// release name (reef, squid, tentacle, or an older one an imported cluster runs); the point version
// ("18.2.4") moves to its own column `ceph_point_version`, null until read from `ceph versions`.
// Imported clusters stored the point version in ceph_version until now: converted here, the release
// from the major (14 nautilus … 18 reef, 19 squid, 20 tentacle), the point version kept beside it.
// A version of a major no release is known for is left as it was (none exists today).

const RELEASES: [number, string][] = [
  [14, 'nautilus'],
  [15, 'octopus'],
  [16, 'pacific'],
  [17, 'quincy'],
  [18, 'reef'],
  [19, 'squid'],
  [20, 'tentacle'],
];

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clusters').addColumn('ceph_point_version', 'text').execute();
  await releaseNamesFromPointVersions(db);
}

/** The conversion of rows that hold a point version in ceph_version (exported for its test). */
export async function releaseNamesFromPointVersions(db: Kysely<any>): Promise<void> {
  for (const [major, release] of RELEASES) {
    await sql`
      UPDATE clusters
         SET ceph_point_version = substring(ceph_version from '^([0-9]+\\.[0-9]+\\.[0-9]+)'),
             ceph_version = ${release}
       WHERE ceph_version ~ ${`^${major}\\.[0-9]+\\.[0-9]+`}`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  // Release names are what created clusters always had: the older code reads them as well.
  await db.schema.alterTable('clusters').dropColumn('ceph_point_version').execute();
}
