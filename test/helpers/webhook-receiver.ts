import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a Receiver got: its headers, its raw body and when it arrived (Date.now()). */
export interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

/**
 * A real HTTP webhook receiver on 127.0.0.1 (node:http) for the webhook tests: it keeps every request
 * and answers each one as the test says (a status, a hang, a delay). It can be stopped and started
 * again on the same port (a receiver that is down for a while).
 */
export class Receiver {
  server: Server | null = null;
  port = 0;
  received: Received[] = [];
  /** Requests (by event) left unanswered: the receiver hangs. */
  hangFor: (event: any) => boolean = () => false;
  /** The status each request gets (by its event); 200 unless a test says otherwise. */
  answerFor: (event: any) => number = () => 200;
  /** How long the receiver takes before it answers (ms; 0: at once). */
  delayMs = 0;

  async start(port = 0): Promise<void> {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body, at: Date.now() });
        if (this.hangFor(JSON.parse(body))) return;
        const status = this.answerFor(JSON.parse(body));
        const answer = () => {
          if (status >= 300 && status < 400) res.setHeader('location', `http://127.0.0.1:${this.port}/elsewhere`);
          res.statusCode = status;
          res.end();
        };
        if (this.delayMs > 0) setTimeout(answer, this.delayMs);
        else answer();
      });
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
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

  /** The events received (parsed bodies), with the delivery id each came with. */
  events(): { event: any; deliveryId: string; at: number }[] {
    return this.received.map((r) => ({
      event: JSON.parse(r.body),
      deliveryId: String(r.headers['nf-delivery-id']),
      at: r.at,
    }));
  }
}
