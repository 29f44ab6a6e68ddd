/**
 * Pools over the ceph CLI on the admin node. Ceph's answers that look like success are not taken
 * for it (LAB.md): `osd pool create` of an existing pool exits 0 whatever it was asked, so the
 * activities read every pool back (`osd pool ls detail`) and compare.
 */
import { FAILURE } from '../../lib/failures';
import { DriverError, type CephErasureProfile, type CephPool, type CephPoolCreate, type CephPoolOps } from '../types';
import type { CephCliContext } from './ceph-cli-context';
import { parseJsonObject } from './ceph-json';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

function bad(what: string, detail: string): DriverError {
  return new DriverError(FAILURE.commandFailed, `unexpected ${what} output: ${detail}`, false);
}

function int(what: string, v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(what, `${field} is not an integer`);
  return v;
}

/** pg_pool_t::TYPE_REPLICATED = 1, TYPE_ERASURE = 3. */
const POOL_TYPES: Record<number, CephPool['type']> = { 1: 'replicated', 3: 'erasure' };

/** `ceph osd pool ls detail -f json`. */
export function parsePoolsDetail(stdout: string): CephPool[] {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw bad('osd pool ls detail', 'not JSON');
  }
  if (!Array.isArray(doc)) throw bad('osd pool ls detail', 'not a JSON array');
  return doc.map(obj).map((p) => {
    const what = 'osd pool ls detail';
    if (typeof p.pool_name !== 'string') throw bad(what, 'pool without a name');
    const type = POOL_TYPES[int(what, p.type, `${p.pool_name}.type`)];
    if (!type) throw bad(what, `${p.pool_name}: unknown pool type ${String(p.type)}`);
    const mode = p.pg_autoscale_mode;
    return {
      id: int(what, p.pool_id ?? p.pool, `${p.pool_name}.pool_id`),
      name: p.pool_name,
      type,
      size: int(what, p.size, `${p.pool_name}.size`),
      min_size: int(what, p.min_size, `${p.pool_name}.min_size`),
      pg_num: int(what, p.pg_num, `${p.pool_name}.pg_num`),
      crush_rule_id: int(what, p.crush_rule, `${p.pool_name}.crush_rule`),
      erasure_profile:
        type === 'erasure' && typeof p.erasure_code_profile === 'string' && p.erasure_code_profile
          ? p.erasure_code_profile
          : null,
      applications: Object.keys(obj(p.application_metadata)).sort(),
      pg_autoscale_mode: mode === 'on' || mode === 'warn' ? mode : 'off',
    };
  });
}

/** `ceph osd erasure-code-profile get <name> -f json`: every value is a string ("k": "2"). */
export function parseErasureProfile(name: string, stdout: string): CephErasureProfile {
  const doc = parseJsonObject('osd erasure-code-profile get', stdout);
  const k = Number(doc.k);
  const m = Number(doc.m);
  if (!Number.isInteger(k) || !Number.isInteger(m))
    throw bad('osd erasure-code-profile get', 'k or m is not an integer');
  const fd = doc['crush-failure-domain'];
  return { name, k, m, failure_domain: typeof fd === 'string' && fd ? fd : null };
}

const ENOENT = 2;

const isTrue = (v: string) => /^(true|1|yes|on)$/i.test(v.trim());

/** `ceph config dump -f json`: the mon section's mon_allow_pool_delete, or null when not set there. */
export function monPoolDeleteFlag(stdout: string): string | null {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw bad('config dump', 'not JSON');
  }
  if (!Array.isArray(doc)) throw bad('config dump', 'not a list');
  const entry = doc.map(obj).find((e) => e.section === 'mon' && e.name === 'mon_allow_pool_delete');
  if (!entry) return null;
  if (typeof entry.value !== 'string' || !/^[A-Za-z0-9]+$/.test(entry.value))
    throw bad('config dump', 'mon_allow_pool_delete has no plain value');
  return entry.value;
}

export function createCephCliPoolOps(ctx: CephCliContext): CephPoolOps {
  const { options, ceph, withSession, checkName } = ctx;
  /** Pool names may start with a dot (Ceph's own `.mgr`, `.rgw.root`); never with a dash (an option). */
  const checkPool = (name: string) => {
    if (!/^[A-Za-z0-9.][A-Za-z0-9._-]*$/.test(name))
      throw new DriverError(FAILURE.commandFailed, `invalid pool name ${JSON.stringify(name)}`, false);
  };
  const admin = options.adminShell;

  return {
    async pools(): Promise<CephPool[]> {
      return withSession(admin, async (s) => parsePoolsDetail(await ceph(s, ['osd', 'pool', 'ls', 'detail'])));
    },

    async createPool(spec: CephPoolCreate): Promise<void> {
      checkName(spec.name);
      const pg = String(spec.pg_num);
      const args = ['osd', 'pool', 'create', spec.name, pg, pg, spec.type];
      if (spec.type === 'erasure') {
        if (!spec.erasure_profile)
          throw new DriverError(FAILURE.commandFailed, 'an erasure pool needs a profile', false);
        checkName(spec.erasure_profile);
        args.push(spec.erasure_profile);
      } else if (spec.crush_rule) {
        checkName(spec.crush_rule);
        args.push(spec.crush_rule);
      }
      await withSession(admin, (s) => ceph(s, args, false));
    },

    async setPool(
      name: string,
      key: 'size' | 'min_size' | 'pg_autoscale_mode' | 'crush_rule',
      value: string,
    ): Promise<void> {
      checkPool(name);
      // A rule is named like a pool; the other keys take a number or a mode.
      if (key === 'crush_rule') checkName(value);
      else if (!/^[a-z0-9]+$/.test(value))
        throw new DriverError(FAILURE.commandFailed, `invalid value ${JSON.stringify(value)}`, false);
      await withSession(admin, (s) => ceph(s, ['osd', 'pool', 'set', name, key, value], false));
    },

    async enableApplication(name: string, application: string): Promise<void> {
      checkName(name);
      checkName(application);
      await withSession(admin, (s) => ceph(s, ['osd', 'pool', 'application', 'enable', name, application], false));
    },

    async setErasureProfile(p: CephErasureProfile): Promise<void> {
      checkName(p.name);
      const args = ['osd', 'erasure-code-profile', 'set', p.name, `k=${p.k}`, `m=${p.m}`];
      if (p.failure_domain) {
        checkName(p.failure_domain);
        args.push(`crush-failure-domain=${p.failure_domain}`);
      }
      await withSession(admin, (s) => ceph(s, args, false));
    },

    async erasureProfile(name: string): Promise<CephErasureProfile | null> {
      checkName(name);
      const args = ['osd', 'erasure-code-profile', 'get', name];
      return withSession(admin, async (s) => {
        const res = await s.exec(ctx.cephCommand(args, true), ctx.execOptions(args));
        if (res.code === ENOENT) return null;
        if (res.code !== 0) throw ctx.cephFailure(args, res);
        return parseErasureProfile(name, res.stdout);
      });
    },

    async poolDeleteFlag(): Promise<string | null> {
      return withSession(admin, async (s) => monPoolDeleteFlag(await ceph(s, ['config', 'dump'])));
    },

    async deletePool(name: string, flagBefore?: string | null): Promise<void> {
      checkName(name);
      await withSession(admin, async (s) => {
        const before = flagBefore !== undefined ? flagBefore : monPoolDeleteFlag(await ceph(s, ['config', 'dump']));
        const rm = () => ceph(s, ['osd', 'pool', 'rm', name, name, '--yes-i-really-really-mean-it'], false);
        // An operator who allows pool deletion keeps it allowed: nothing to enable, nothing to restore.
        if (before !== null && isTrue(before)) {
          await rm();
          return;
        }
        // Pool deletion is refused unless the mons allow it; allow it for this one command only, then
        // put back exactly what was there (an operator's explicit false, or no mon setting at all).
        await ceph(s, ['config', 'set', 'mon', 'mon_allow_pool_delete', 'true'], false);
        try {
          await rm();
        } finally {
          if (before === null) await ceph(s, ['config', 'rm', 'mon', 'mon_allow_pool_delete'], false);
          else await ceph(s, ['config', 'set', 'mon', 'mon_allow_pool_delete', before], false);
        }
      });
    },
  };
}
