import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnonymousLimiter } from '../../api/middleware/rate-limit.middleware';
import { startTestApi, type ApiResponse, type TestApi } from '../helpers/api';

let api: TestApi;
/** A second API process on the same database: the limit must hold across processes. */
let api2: TestApi;

beforeAll(async () => {
  api = await startTestApi();
  api2 = await startTestApi();
});
afterAll(async () => {
  await api2?.close();
  await api?.close();
});

describe('rate limits', () => {
  it('put X-RateLimit-* on every authenticated response, errors included', async () => {
    const acct = await api.newAccount('professional');
    for (const [method, path] of [
      ['GET', '/v1/nodes'],
      ['GET', '/v1/nodes/node_missing'],
      ['POST', '/v1/nodes'],
    ] as const) {
      const r = await api.request(method, path, { key: acct.keys.test, body: method === 'POST' ? {} : undefined });
      expect(r.headers.get('x-ratelimit-limit')).toBe('600');
      expect(Number(r.headers.get('x-ratelimit-remaining'))).toBeLessThan(600);
      const reset = Number(r.headers.get('x-ratelimit-reset'));
      expect(reset % 60).toBe(0);
      expect(reset).toBeGreaterThan(Date.now() / 1000);
      expect(reset).toBeLessThanOrEqual(Date.now() / 1000 + 61);
    }
  });

  it('tell enterprise accounts they are unlimited', async () => {
    const r = await api.request('GET', '/v1/nodes');
    expect(r.status).toBe(200);
    expect(r.headers.get('x-ratelimit-limit')).toBe('unlimited');
    expect(r.headers.get('x-ratelimit-remaining')).toBe('unlimited');
    expect(Number(r.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
  });

  it('answer 429 rate_limited with Retry-After after 300 requests in a minute on Starter, counted across API processes', async () => {
    const acct = await api.newAccount('starter');
    const other = await api.newAccount('starter');
    const okByWindow = new Map<string, number>();
    let limited: ApiResponse | undefined;
    let lastRemaining = Infinity;
    let lastReset = '';
    for (let i = 0; i < 700 && !limited; i++) {
      const r = await (i % 2 === 0 ? api : api2).request('GET', '/v1/api_keys?per_page=1', { key: acct.keys.live });
      const reset = r.headers.get('x-ratelimit-reset')!;
      const remaining = Number(r.headers.get('x-ratelimit-remaining'));
      expect(r.headers.get('x-ratelimit-limit')).toBe('300');
      if (reset === lastReset) expect(remaining).toBeLessThan(lastRemaining === 0 ? 1 : lastRemaining);
      lastReset = reset;
      lastRemaining = remaining;
      if (r.status === 429) limited = r;
      else {
        expect(r.status).toBe(200);
        okByWindow.set(reset, (okByWindow.get(reset) ?? 0) + 1);
      }
    }
    expect(limited).toBeDefined();
    const reset = limited!.headers.get('x-ratelimit-reset')!;
    // Both processes shared one counter: exactly 300 successes in the window that ran out.
    expect(okByWindow.get(reset)).toBe(300);
    expect(limited!.body.error.code).toBe('rate_limited');
    expect(limited!.body.error.request_id).toBe(limited!.headers.get('x-request-id'));
    expect(limited!.headers.get('x-ratelimit-remaining')).toBe('0');
    const retryAfter = Number(limited!.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(Math.abs(Date.now() / 1000 + retryAfter - Number(reset))).toBeLessThanOrEqual(2);

    // Per account: another account of the same plan is not affected.
    const fine = await api.request('GET', '/v1/nodes', { key: other.keys.test });
    expect(fine.status).toBe(200);
    expect(fine.headers.get('x-ratelimit-remaining')).toBe('299');
  });

  it('never limit the probes', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const r = await api.request('GET', path, { key: null });
      expect(r.status).toBe(200);
      expect(r.headers.get('x-ratelimit-limit')).toBeNull();
    }
  });
});

/** The X-RateLimit-* headers of an answer, or a note of which is missing. */
function limitHeaders(r: ApiResponse): { limit: string | null; remaining: number; reset: number } {
  const limit = r.headers.get('x-ratelimit-limit');
  const reset = Number(r.headers.get('x-ratelimit-reset'));
  expect(reset % 60, 'X-RateLimit-Reset on the minute').toBe(0);
  expect(reset).toBeGreaterThan(Date.now() / 1000 - 1);
  expect(reset).toBeLessThanOrEqual(Date.now() / 1000 + 61);
  return { limit, remaining: Number(r.headers.get('x-ratelimit-remaining')), reset };
}

describe('rate-limit headers on every answer after the limiter (issue 12 #4)', () => {
  it("a read-only key's refused write is 403 with its key's headers, and counts against that key", async () => {
    const acct = await api.newAccount('starter');
    const read1 = await api.request('GET', '/v1/nodes?per_page=1', { key: acct.keys.ro });
    expect(read1.status).toBe(200);
    const refused = await api.request('POST', '/v1/nodes', { key: acct.keys.ro, body: {} });
    expect([refused.status, refused.body.error.code]).toEqual([403, 'forbidden']);
    const h = limitHeaders(refused);
    expect(h.limit).toBe('300');
    const read2 = await api.request('GET', '/v1/nodes?per_page=1', { key: acct.keys.ro });
    const h2 = limitHeaders(read2);
    // Same window: the refused write was counted between the two reads (minute turned: fresh start).
    if (h2.reset === h.reset) {
      expect(h.remaining).toBe(Number(read1.headers.get('x-ratelimit-remaining')) - 1);
      expect(h2.remaining).toBe(h.remaining - 1);
    } else expect(h2.remaining).toBe(299);
  });

  it('401s, unauthenticated routes, unknown routes and 405s carry the client address headers and count against it', async () => {
    const small = await startTestApi({ NF_ANON_RATE_LIMIT: '50' });
    try {
      const answers = [
        await small.request('GET', '/v1/nodes', { key: null }),
        await small.request('GET', '/v1/nodes', { key: `nf_sk_live_${'y'.repeat(32)}` }),
        await small.request('GET', '/v1/openapi.json', { key: null }),
        await small.request('GET', '/v1/no-such-thing', { key: null }),
        await small.request('GET', '/v1/no-such-thing'),
        await small.request('PUT', '/v1/nodes', { key: null }),
      ];
      expect(answers.map((r) => r.status)).toEqual([401, 401, 200, 404, 404, 405]);
      const hs = answers.map(limitHeaders);
      expect(hs.map((h) => h.limit)).toEqual(Array(6).fill('50'));
      // One counter for the address: each answer one lower than the one before (unless the minute turned).
      if (hs[0]!.reset === hs[5]!.reset) expect(hs.map((h) => h.remaining)).toEqual([49, 48, 47, 46, 45, 44]);
      // The 429 past the address's allowance carries them too.
      let limited: ApiResponse | undefined;
      for (let i = 0; i < 60 && !limited; i++) {
        const r = await small.request('GET', '/v1/nodes', { key: null });
        if (r.status === 429) limited = r;
      }
      expect(limited).toBeDefined();
      expect(limitHeaders(limited!)).toMatchObject({ limit: '50', remaining: 0 });
      expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // A valid key from that address is served on its own counter.
      const keyed = await small.request('GET', '/v1/nodes');
      expect([keyed.status, keyed.headers.get('x-ratelimit-limit')]).toEqual([200, 'unlimited']);
    } finally {
      await small.close();
    }
  });

  it('say unlimited when the address limiter is off', async () => {
    const off = await startTestApi({ NF_ANON_RATE_LIMIT: '0' });
    try {
      const r = await off.request('GET', '/v1/nodes', { key: null });
      expect(r.status).toBe(401);
      expect(limitHeaders(r)).toMatchObject({ limit: 'unlimited' });
      expect(r.headers.get('x-ratelimit-remaining')).toBe('unlimited');
    } finally {
      await off.close();
    }
  });
});

describe('rate limits per key kind and per client address (issue 8 #14)', () => {
  it("a starter account's sandbox and read-only keys exhausting their limits never starve its live key, cancels included", async () => {
    const acct = await api.newAccount('starter');
    // Burn the sandbox key's window (two processes share the counter), then the read-only key's.
    for (const kind of ['test', 'ro'] as const) {
      let limited = false;
      // At most 300 per minute: 620 attempts reach a 429 even when the minute turns once during the
      // loop (the window restarts at 0; CI once crossed a minute within the first 320).
      for (let i = 0; i < 620 && !limited; i++) {
        const r = await (i % 2 === 0 ? api : api2).request('GET', '/v1/nodes?per_page=1', { key: acct.keys[kind] });
        limited = r.status === 429;
      }
      expect(limited).toBe(true);
    }
    // Unless the minute turned meanwhile, the live key still has its whole allowance.
    const live = await api.request('GET', '/v1/nodes', { key: acct.keys.live });
    expect(live.status).toBe(200);
    expect(Number(live.headers.get('x-ratelimit-remaining'))).toBe(299);
    // A cancel with the live key is answered on its merits (404: no such operation), not 429.
    const cancel = await api.request('POST', `/v1/operations/op_${'0'.repeat(26)}/cancel`, { key: acct.keys.live });
    expect([cancel.status, cancel.body.error.code]).toEqual([404, 'operation_not_found']);
  });
});

describe('unauthenticated requests per client address (issue 8 #14)', () => {
  let small: TestApi;
  beforeAll(async () => {
    small = await startTestApi({ NF_ANON_RATE_LIMIT: '20' });
  });
  afterAll(async () => {
    await small?.close();
  });

  it('are limited per address: 429 with Retry-After past the limit, for no key and bad keys alike; probes and valid keys unaffected', async () => {
    const seen: number[] = [];
    const minute = Math.floor(Date.now() / 60_000);
    for (let i = 0; i < 40; i++) {
      const r = await small.request('GET', '/v1/nodes', { key: i % 2 === 0 ? null : `nf_sk_test_${'x'.repeat(32)}` });
      seen.push(r.status);
    }
    const first429 = seen.indexOf(429);
    expect(seen.slice(0, first429).every((s) => s === 401)).toBe(true);
    // Exactly the limit of 401s in this window (at least, if the minute turned during the loop).
    if (Math.floor(Date.now() / 60_000) === minute) expect(first429).toBe(20);
    else expect(first429).toBeGreaterThanOrEqual(20);
    expect(seen.slice(first429).every((s) => s === 429)).toBe(true);
    const limited = await small.request('GET', '/v1/openapi.json', { key: null });
    expect([limited.status, limited.body.error.code]).toEqual([429, 'rate_limited']);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Probes are never limited, and a valid key from the same address is served.
    expect((await small.request('GET', '/healthz', { key: null })).status).toBe(200);
    expect((await small.request('GET', '/v1/nodes')).status).toBe(200);
  });

  it('take the socket address, not X-Forwarded-For, unless a proxy is configured', async () => {
    const other = await startTestApi({ NF_ANON_RATE_LIMIT: '5' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const r = await other.request('GET', '/v1/nodes', {
          key: null,
          headers: { 'x-forwarded-for': `203.0.113.${i}` },
        });
        statuses.push(r.status);
      }
      // A forged header per request does not give a fresh allowance.
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(2);
    } finally {
      await other.close();
    }
  });
});

describe('the bounded address table', () => {
  it('holds at most MAX_ADDRESSES entries; addresses beyond share one counter; a new minute starts afresh', () => {
    let now = 60_000 * 1000;
    const l = new AnonymousLimiter(2, () => now);
    for (let i = 0; i < AnonymousLimiter.MAX_ADDRESSES + 50; i++) l.hit(`a${i}`);
    expect(l.size).toBe(AnonymousLimiter.MAX_ADDRESSES + 1);
    expect(l.exhausted('a1')).toBe(false);
    expect(l.exhausted('never-seen')).toBe(true);
    now += 60_000;
    expect(l.exhausted('never-seen')).toBe(false);
    expect(l.size).toBe(0);
  });
});
