import pg from 'pg';
import type { Db } from '../db/database';
import { onApiKeysChanged, type AuthenticatedKey } from '../db/repositories/api-keys.repository';
import type { Logger } from '../lib/logger';

/** The channel migration 2026-12-05-0603 notifies when a key or an account's plan changes. */
export const API_KEYS_CHANGED_CHANNEL = 'nf_api_keys_changed';

export interface KeyCacheOptions {
  databaseUrl: string;
  /** The API's database handle: this process's own key and plan changes through it invalidate at once. */
  db: Db;
  logger: Logger;
  /** The listening connection's application_name (pg_stat_activity). */
  applicationName?: string;
  /** At most this many keys are kept; beyond it the cache starts over. */
  maxEntries?: number;
  /** A kept lookup is used for at most this long (a bound on top of the notifications). */
  maxAgeMs?: number;
  /** Reconnect delays of the listening connection: first, then doubled up to the max. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

/** What a lookup started with: it may be kept only if nothing was invalidated meanwhile. */
export type KeyCacheTicket = number;

/**
 * The lookups of valid API keys (issue 14: the key lookup was the one PostgreSQL round trip every
 * request paid besides its own work), kept in this process and correct across API processes:
 *
 * - A connection of its own LISTENs on API_KEYS_CHANGED_CHANNEL. Every change to what a lookup
 *   reads (a key revoked, deleted or changed; an account's plan changed or the account deleted) is
 *   notified by a trigger in the changing transaction, at its commit (migration 0603), so it reaches
 *   every API process whatever made it (API, admin CLI, SQL). A notification empties the cache.
 * - While that connection is not up (not yet connected, lost, reconnecting), the cache is empty and
 *   not used: every request looks its key up, as without a cache. It is used again only once LISTEN
 *   has been confirmed on a new connection.
 * - A lookup is kept only if no invalidation happened between its start and its end (a ticket), so
 *   a lookup that read a key just before its revocation committed is never kept after the
 *   notification of that revocation was handled.
 * - Only valid keys are kept (unknown and revoked keys are looked up every time), by their SHA-256,
 *   never the key itself; `invalidate()` is also called by this process's own writes at once
 *   (db/repositories/api-keys.repository.ts onApiKeysChanged), so the process that revokes a key
 *   refuses it on its very next request.
 *
 * So a revoked key is refused by every API process as soon as the notification reaches it (the
 * commit's NOTIFY, milliseconds), never later than maxAgeMs; docs/api.md states the trade.
 */
export class KeyCache {
  private readonly entries = new Map<string, { value: AuthenticatedKey; at: number }>();
  private generation = 0;
  private listening = false;
  private client: pg.Client | undefined;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectMs: number;
  private unhook: (() => void) | undefined;
  private readonly maxEntries: number;
  private readonly maxAgeMs: number;
  private readonly reconnectMinMs: number;
  private readonly reconnectMaxMs: number;

  constructor(private readonly opts: KeyCacheOptions) {
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.maxAgeMs = opts.maxAgeMs ?? 60_000;
    this.reconnectMinMs = opts.reconnectMinMs ?? 250;
    this.reconnectMaxMs = opts.reconnectMaxMs ?? 10_000;
    this.reconnectMs = this.reconnectMinMs;
  }

  /** Whether lookups are being kept (the listening connection is up). */
  get active(): boolean {
    return this.listening;
  }

  /** Starts listening; resolves once the first attempt has succeeded or failed (it keeps retrying). */
  async start(): Promise<void> {
    this.unhook ??= onApiKeysChanged(this.opts.db, () => this.invalidate());
    await this.connect();
  }

  /** The kept lookup of this key hash, when the cache is active and it is fresh. */
  get(keyHash: string, now = Date.now()): AuthenticatedKey | undefined {
    if (!this.listening) return undefined;
    const e = this.entries.get(keyHash);
    if (!e) return undefined;
    if (now - e.at > this.maxAgeMs) {
      this.entries.delete(keyHash);
      return undefined;
    }
    return e.value;
  }

  /** Taken before a lookup; `set` keeps the lookup only if nothing was invalidated since. */
  ticket(): KeyCacheTicket {
    return this.generation;
  }

  set(keyHash: string, value: AuthenticatedKey, ticket: KeyCacheTicket, now = Date.now()): void {
    if (!this.listening || ticket !== this.generation) return;
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(keyHash, { value, at: now });
  }

  /** Forgets every kept lookup, and makes every lookup in flight not kept. */
  invalidate(): void {
    this.generation += 1;
    this.entries.clear();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unhook?.();
    this.down();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => {});
  }

  private down(): void {
    this.listening = false;
    this.invalidate();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.opts.databaseUrl,
      application_name: this.opts.applicationName ?? 'nodefoundry-key-cache',
    });
    this.client = client;
    let lost = false;
    const onLost = (why: string) => {
      if (lost || this.client !== client) return;
      lost = true;
      const wasListening = this.listening;
      this.down();
      this.client = undefined;
      client.end().catch(() => {});
      if (this.closed) return;
      if (wasListening) this.opts.logger.warn('key cache off: its listening connection was lost', { err: why });
      this.scheduleReconnect();
    };
    client.on('error', (err) => onLost(String(err)));
    client.on('end', () => onLost('connection ended'));
    client.on('notification', (msg) => {
      if (msg.channel === API_KEYS_CHANGED_CHANNEL) this.invalidate();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${API_KEYS_CHANGED_CHANNEL}`);
    } catch (err) {
      onLost(String(err));
      return;
    }
    if (lost || this.closed || this.client !== client) return;
    // Anything kept before this LISTEN could have missed a notification: start empty.
    this.invalidate();
    this.listening = true;
    this.reconnectMs = this.reconnectMinMs;
    this.opts.logger.info('key cache on: listening for key changes');
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = this.reconnectMs;
    this.reconnectMs = Math.min(this.reconnectMaxMs, this.reconnectMs * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }
}
