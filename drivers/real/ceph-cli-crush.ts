/**
 * The lifecycle operations every deployer shares, because they only talk to the cluster through the
 * `ceph` CLI on the admin node: adopting a running cluster (`ceph fsid`), CRUSH buckets for racks and
 * zones, replicated rules. cephadm (ceph-cli-lifecycle.ts) and the package deployer
 * (ceph-packages-lifecycle.ts) both compose these.
 */
import { FAILURE } from '../../lib/failures';
import {
  DriverError,
  type CephCrushRule,
  type CephHostSpec,
  type CephLifecycleOps,
  type CrushFailureDomain,
} from '../types';
import type { CephCliContext } from './ceph-cli-context';
import { parseJsonArray, parseJsonObject } from './ceph-json';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

function bad(what: string, detail: string): DriverError {
  return new DriverError(FAILURE.commandFailed, `unexpected ${what} output: ${detail}`, false);
}

/** `ceph fsid -f json`: {"fsid": "…"}. */
export function parseFsid(stdout: string): string {
  const fsid = parseJsonObject('fsid', stdout).fsid;
  if (typeof fsid !== 'string' || !/^[0-9a-f-]{36}$/.test(fsid)) throw bad('fsid', JSON.stringify(fsid));
  return fsid;
}

/** `ceph osd crush rule dump -f json`: each rule's failure domain is the type of its chooseleaf/choose step. */
export function parseCrushRules(stdout: string): CephCrushRule[] {
  return parseJsonArray('osd crush rule dump', stdout).map((r) => {
    if (typeof r.rule_id !== 'number' || typeof r.rule_name !== 'string')
      throw bad('osd crush rule dump', 'rule without id or name');
    const steps = Array.isArray(r.steps) ? r.steps.map(obj) : [];
    const choose = steps.find((s) => typeof s.op === 'string' && s.op.startsWith('choose'));
    return { id: r.rule_id, name: r.rule_name, failure_domain: typeof choose?.type === 'string' ? choose.type : 'osd' };
  });
}

export function createCephCliSharedLifecycleOps(
  ctx: CephCliContext,
): Pick<CephLifecycleOps, 'adopt' | 'setCrushLocation' | 'createCrushRule' | 'crushRules'> {
  const { options, ceph, withSession, checkName } = ctx;
  const admin = options.adminShell;
  return {
    async adopt(): Promise<{ fsid: string }> {
      return withSession(admin, async (s) => ({ fsid: parseFsid(await ceph(s, ['fsid'])) }));
    },

    async setCrushLocation(spec: CephHostSpec): Promise<void> {
      checkName(spec.hostname);
      if (spec.rack) checkName(spec.rack);
      if (spec.zone) checkName(spec.zone);
      await withSession(admin, async (s) => {
        // add-bucket of an existing bucket exits 0; move of a bucket already there is a no-op.
        if (spec.zone) {
          await ceph(s, ['osd', 'crush', 'add-bucket', spec.zone, 'zone'], false);
          await ceph(s, ['osd', 'crush', 'move', spec.zone, 'root=default'], false);
        }
        if (spec.rack) {
          await ceph(s, ['osd', 'crush', 'add-bucket', spec.rack, 'rack'], false);
          await ceph(s, ['osd', 'crush', 'move', spec.rack, spec.zone ? `zone=${spec.zone}` : 'root=default'], false);
        }
        const parent = spec.rack ? `rack=${spec.rack}` : spec.zone ? `zone=${spec.zone}` : null;
        if (parent) await ceph(s, ['osd', 'crush', 'move', spec.hostname, parent], false);
      });
    },

    async createCrushRule(name: string, failureDomain: CrushFailureDomain): Promise<void> {
      checkName(name);
      await withSession(admin, (s) =>
        ceph(s, ['osd', 'crush', 'rule', 'create-replicated', name, 'default', failureDomain], false),
      );
    },

    async crushRules(): Promise<CephCrushRule[]> {
      return withSession(admin, async (s) => parseCrushRules(await ceph(s, ['osd', 'crush', 'rule', 'dump'])));
    },
  };
}
