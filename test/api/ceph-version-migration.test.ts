import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseNamesFromPointVersions } from '../../db/migrations/2026-12-05-0007-ceph-point-version';
import { newId } from '../../lib/ids';
import { startTestApi, type TestApi } from '../helpers/api';

/**
 * Migration 2026-12-05-0007-ceph-point-version (issue 12 #4): imported clusters stored Ceph's point
 * version in ceph_version ("18.2.4") where created clusters have the release name. Afterwards every
 * cluster reads as a release name through the API, with the point version in ceph_point_version.
 */
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => api?.close());

describe('migration 2026-12-05-0007-ceph-point-version', () => {
  it('converts point versions to release names (18 reef, 19 squid, 20 tentacle, 16 pacific), keeping the point version; release names untouched', async () => {
    const acct = await api.newAccount();
    const rows: [string, string][] = [
      ['18.2.4', 'reef'],
      ['19.2.2', 'squid'],
      ['20.2.0', 'tentacle'],
      ['16.2.15', 'pacific'],
      ['reef', 'reef'],
      ['unknown', 'unknown'],
    ];
    const ids: string[] = [];
    for (const [stored] of rows) {
      const id = newId('cluster');
      ids.push(id);
      // As the code before the migration stored them.
      await api.db
        .insertInto('clusters')
        .values({
          id,
          account_id: acct.accountId,
          environment: 'sandbox',
          name: `c-${id}`,
          status: 'HEALTH_OK',
          ceph_version: stored,
        })
        .execute();
    }

    // As the migrator runs it: in one transaction.
    await api.db.transaction().execute(async (trx) => releaseNamesFromPointVersions(trx));

    const got = [];
    for (const id of ids) {
      const c = (await api.request('GET', `/v1/clusters/${id}`, { key: acct.keys.test })).body.data;
      got.push([c.ceph_version, c.ceph_point_version]);
    }
    expect(got).toEqual([
      ['reef', '18.2.4'],
      ['squid', '19.2.2'],
      ['tentacle', '20.2.0'],
      ['pacific', '16.2.15'],
      ['reef', null],
      ['unknown', null],
    ]);
    // The list says the same.
    const listed = (await api.request('GET', '/v1/clusters?per_page=100', { key: acct.keys.test })).body.data;
    expect(new Set(listed.map((c: any) => c.ceph_version))).toEqual(
      new Set(['reef', 'squid', 'tentacle', 'pacific', 'unknown']),
    );
  });
});
