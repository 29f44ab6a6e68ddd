import http from 'node:http';
import net from 'node:net';
import { expect, it } from 'vitest';
import { startApi } from '../../api/main';
import { createAccount } from '../../db/repositories/accounts.repository';
import { createApiKey } from '../../db/repositories/api-keys.repository';
import { newId } from '../../lib/ids';
import { createLogger } from '../../lib/logger';
import { testConfig } from '../helpers/config';
import { testDb } from '../helpers/db';

it('startApi listens on the configured host/port, and close lets a request in flight finish', async () => {
  const db = testDb(3);
  const lines: string[] = [];
  const api = await startApi(testConfig({ NF_HOST: '127.0.0.1', PORT: '0' }), {
    db,
    logger: createLogger('info', {}, (l) => lines.push(l)),
  });
  try {
    expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${api.url}/readyz`)).status).toBe(200);

    const account = await createAccount(db, { name: `main-${newId('account')}` });
    const { apiKey, secret } = await createApiKey(db, { accountId: account.id, kind: 'test' });
    const body = JSON.stringify({ kind: 'test', name: 'drain' });
    const url = new URL('/v1/api_keys', api.url);
    let finishBody!: () => void;
    const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${secret}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.write(body.slice(0, 5));
      // The rest of the body arrives after close() has begun.
      finishBody = () => req.end(body.slice(5));
    });
    // The request is inside the app (authenticated, reading its body) once its key was touched.
    for (let i = 0; ; i++) {
      const k = await db
        .selectFrom('api_keys')
        .select('last_used_at')
        .where('id', '=', apiKey.id)
        .executeTakeFirstOrThrow();
      if (k.last_used_at) break;
      if (i > 1000) throw new Error('request never reached the app');
      await new Promise((r) => setImmediate(r));
    }
    const closing = api.close();
    finishBody();
    const res = await response;
    expect(res.status).toBe(201);
    expect(JSON.parse(res.text).data.name).toBe('drain');
    await closing;
    await expect(fetch(`${api.url}/healthz`)).rejects.toThrow();
    expect(lines.some((l) => JSON.parse(l).msg === 'api stopped')).toBe(true);
  } finally {
    await api.close();
    await db.destroy();
  }
});

it('the server bounds slow clients: headers not finished within NF_HEADERS_TIMEOUT_MS get 408 and the connection closed', async () => {
  const db = testDb(2);
  const api = await startApi(
    testConfig({
      NF_HOST: '127.0.0.1',
      PORT: '0',
      NF_HEADERS_TIMEOUT_MS: '400',
      NF_REQUEST_TIMEOUT_MS: '800',
      NF_KEEP_ALIVE_TIMEOUT_MS: '300',
    }),
    {
      db,
      logger: createLogger('silent'),
    },
  );
  try {
    const { hostname, port } = new URL(api.url);
    const started = Date.now();
    const answer = await new Promise<{ text: string; ms: number }>((resolve, reject) => {
      const socket = net.connect(Number(port), hostname, () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'));
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('close', () => resolve({ text, ms: Date.now() - started }));
      socket.on('error', reject);
      // The bound of this test: Node's default (60 s headers, 30 s checks) would not end it.
      setTimeout(() => reject(new Error('the server kept a slow client for 10 s')), 10_000).unref();
    });
    expect(answer.text).toMatch(/^HTTP\/1\.1 408/);
    expect(answer.ms).toBeLessThan(3_000);

    // An idle keep-alive connection is closed after NF_KEEP_ALIVE_TIMEOUT_MS.
    const idle = await new Promise<number>((resolve, reject) => {
      const socket = net.connect(Number(port), hostname, () =>
        socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'),
      );
      let answeredAt = 0;
      socket.on('data', () => (answeredAt ||= Date.now()));
      socket.on('close', () => resolve(Date.now() - answeredAt));
      socket.on('error', reject);
      setTimeout(() => reject(new Error('idle connection kept 10 s')), 10_000).unref();
    });
    expect(idle).toBeLessThan(3_000);
  } finally {
    await api.close();
    await db.destroy();
  }
});
