import { describe, expect, it } from 'vitest';
import { bearerToken } from '../../api/middleware/auth.middleware';
import { canonicalJson, requestFingerprint } from '../../api/middleware/idempotency.middleware';
import { requestIdFrom } from '../../api/middleware/request-id.middleware';
import { PLAN_LIMITS } from '../../api/middleware/rate-limit.middleware';
import { manageableKinds } from '../../api/routes/api-keys.routes';
import { keyHint } from '../../db/repositories/api-keys.repository';
import { isId } from '../../lib/ids';
import { environmentOf, generateApiKey, hashApiKey, KEY_KINDS, kindOfKey } from '../../lib/secrets';

describe('API keys', () => {
  it('carry their kind in the prefix and ~190 bits of base62', () => {
    for (const kind of KEY_KINDS) {
      const key = generateApiKey(kind);
      expect(key).toMatch(new RegExp(`^nf_sk_${kind}_[0-9A-Za-z]{32}$`));
      expect(kindOfKey(key)).toBe(kind);
    }
    expect(new Set(Array.from({ length: 100 }, () => generateApiKey('live'))).size).toBe(100);
  });

  it('map kinds to environments: test keys are the sandbox, ro keys read live', () => {
    expect(environmentOf('live')).toBe('live');
    expect(environmentOf('ro')).toBe('live');
    expect(environmentOf('test')).toBe('sandbox');
  });

  it('reject malformed keys before any lookup', () => {
    const good = generateApiKey('test');
    expect(kindOfKey(good.slice(0, -1))).toBeUndefined();
    expect(kindOfKey(good + 'x')).toBeUndefined();
    expect(kindOfKey(good.replace('nf_sk_test_', 'nf_sk_prod_'))).toBeUndefined();
    expect(kindOfKey(good.replace(/.$/, '!'))).toBeUndefined();
    expect(kindOfKey('')).toBeUndefined();
  });

  it('are stored as SHA-256 hex, deterministic, never the key itself', () => {
    const key = generateApiKey('live');
    expect(hashApiKey(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKey(key)).toBe(hashApiKey(key));
    expect(hashApiKey(key)).not.toContain(key.slice(11));
    expect(hashApiKey(generateApiKey('live'))).not.toBe(hashApiKey(key));
  });

  it('show a hint of the prefix and four characters only', () => {
    const key = generateApiKey('test');
    expect(keyHint(key, 'test')).toBe(`${key.slice(0, 15)}…`);
    expect(key.startsWith(keyHint(key, 'test').slice(0, -1))).toBe(true);
  });

  it('are read from a Bearer Authorization header only', () => {
    expect(bearerToken('Bearer nf_sk_test_abc')).toBe('nf_sk_test_abc');
    expect(bearerToken('bearer nf_sk_test_abc')).toBe('nf_sk_test_abc');
    expect(bearerToken('Basic dXNlcjpwYXNz')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken('nf_sk_test_abc')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });

  it('of the sandbox manage sandbox keys only; live and ro keys see every kind', () => {
    const auth = (keyKind: 'live' | 'test' | 'ro') =>
      ({ accountId: 'a', environment: environmentOf(keyKind), keyKind, keyId: 'k', plan: 'starter' }) as const;
    expect(manageableKinds(auth('test'))).toEqual(['test']);
    expect(manageableKinds(auth('live'))).toEqual(['live', 'test', 'ro']);
    expect(manageableKinds(auth('ro'))).toEqual(['live', 'test', 'ro']);
  });
});

describe('request ids', () => {
  it('echo a sane client id and replace anything else with a req_ id', () => {
    expect(requestIdFrom('trace-42:a.b_c')).toBe('trace-42:a.b_c');
    for (const bad of [undefined, '', 'x'.repeat(129), 'has space', 'new\nline', '<script>']) {
      expect(isId('request', requestIdFrom(bad))).toBe(true);
    }
    expect(requestIdFrom('x'.repeat(128))).toBe('x'.repeat(128));
  });
});

describe('plans and idempotency fingerprints', () => {
  it('limit starter to 300/min, professional to 600/min, enterprise not at all', () => {
    expect(PLAN_LIMITS).toEqual({ starter: 300, professional: 600, enterprise: null });
  });

  it('treat key order as the same body, and anything else as a different request', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    const f = (method: string, url: string, env: string, body: unknown) => requestFingerprint(method, url, env, body);
    expect(f('POST', '/v1/nodes', 'live', { a: 1, b: 2 })).toBe(f('POST', '/v1/nodes', 'live', { b: 2, a: 1 }));
    expect(f('POST', '/v1/nodes', 'live', { a: 1 })).not.toBe(f('POST', '/v1/nodes', 'live', { a: 2 }));
    expect(f('POST', '/v1/nodes', 'live', { a: 1 })).not.toBe(f('POST', '/v1/nodes', 'sandbox', { a: 1 }));
    expect(f('POST', '/v1/a', 'live', {})).not.toBe(f('POST', '/v1/b', 'live', {}));
    expect(f('POST', '/v1/a', 'live', undefined)).not.toBe(f('POST', '/v1/a', 'live', {}));
  });
});
