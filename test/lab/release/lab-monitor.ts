/**
 * The cluster monitor on real Ceph (issue 11), for the release lab's API tests: a webhook receiver
 * on 127.0.0.1 that checks every delivery's signature, and bounded waits on
 * `GET /v1/clusters/{id}/health`. Used by journey.test.ts while its cluster exists.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { verifyWebhookSignature } from '../../../lib/webhooks';
import type { LabSession } from './lab-session';

/**
 * The API and worker settings of a lab session whose monitor is watched: a round every 3 s, the
 * webhook dispatcher every second (a Temporal Schedule runs at most once a second), and 127.0.0.1 allowed as a live webhook target (the lab's
 * cluster is a live key's, whose webhooks may target loopback only by the operator's
 * NF_WEBHOOK_ALLOW_CIDRS).
 */
export const MONITOR_INTERVAL_MS = 3000;
export const WEBHOOK_DISPATCH_MS = 1000;
export const MONITOR_ENV: Record<string, string> = {
  NF_MONITOR_INTERVAL_MS: String(MONITOR_INTERVAL_MS),
  NF_WEBHOOK_DISPATCH_MS: String(WEBHOOK_DISPATCH_MS),
  NF_WEBHOOK_ALLOW_CIDRS: '127.0.0.1/32',
};

export interface SignedEvent {
  /** When the request arrived (Date.now()). */
  at: number;
  /** The event, parsed after its signature was checked. */
  event: any;
  /** Whether nf-signature verified with the webhook's secret over the raw body. */
  signed: boolean;
}

/** A webhook receiver on 127.0.0.1: records each delivery with its arrival time and signature check; answers 200. */
export class WebhookReceiver {
  private server: Server | null = null;
  private port = 0;
  secret = '';
  readonly received: SignedEvent[] = [];

  async start(): Promise<void> {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const at = Date.now();
        const signed = verifyWebhookSignature(
          this.secret,
          { timestamp: String(req.headers['nf-timestamp']), signature: String(req.headers['nf-signature']) },
          body,
        );
        let event: any = null;
        try {
          event = JSON.parse(body);
        } catch {
          /* recorded as null: the test fails on it */
        }
        this.received.push({ at, event, signed });
        res.statusCode = 200;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise((r) => (s.closeAllConnections(), s.close(r)));
  }

  url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** The first delivery received at or after `since` that matches. */
  find(since: number, match: (e: any) => boolean): SignedEvent | undefined {
    return this.received.find((r) => r.at >= since && r.event && match(r.event));
  }
}

/** Polls `check` every 200 ms until it answers something, at most timeoutMs; the error says what was last seen. */
export async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined> | T | undefined,
  last?: () => unknown,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(
        `${what}: not within ${timeoutMs} ms; last seen ${JSON.stringify(last?.() ?? null).slice(0, 2000)}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** GET /v1/clusters/{id}/health (200). */
export async function clusterHealth(lab: LabSession, clusterId: string): Promise<any> {
  const r = await lab.request('GET', `/v1/clusters/${clusterId}/health`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.data;
}

/** The health answer once `until` holds, polled every 200 ms for at most timeoutMs. */
export async function waitHealth(
  lab: LabSession,
  clusterId: string,
  what: string,
  timeoutMs: number,
  until: (h: any) => boolean,
): Promise<any> {
  let last: any = null;
  return waitUntil(
    what,
    timeoutMs,
    async () => {
      last = await clusterHealth(lab, clusterId);
      return until(last) ? last : undefined;
    },
    () => last && { ...last, checks: last.checks.map((c: any) => `${c.code}: ${c.summary}`) },
  );
}

export const codes = (h: any): string[] => h.checks.map((c: any) => c.code);
