import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * AES-256-GCM for credentials at rest (BMC passwords, SSH private keys).
 * Format: "v1:" + base64(iv(12) | tag(16) | ciphertext). The version prefix lets the key or the
 * algorithm rotate later without guessing what a stored value is.
 */
export function encryptSecret(key: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return 'v1:' + Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
}

export function decryptSecret(key: Buffer, stored: string): string {
  if (!stored.startsWith('v1:')) throw new Error('unknown secret format');
  const raw = Buffer.from(stored.slice(3), 'base64');
  if (raw.length < 28) throw new Error('secret too short');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}

export const KEY_KINDS = ['live', 'test', 'ro'] as const;
export type KeyKind = (typeof KEY_KINDS)[number];
export type Environment = 'live' | 'sandbox';

export const KEY_PREFIX: Record<KeyKind, string> = {
  live: 'nf_sk_live_',
  test: 'nf_sk_test_',
  ro: 'nf_sk_ro_',
};

export function environmentOf(kind: KeyKind): Environment {
  return kind === 'test' ? 'sandbox' : 'live';
}

const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A new API key: prefix + 32 base62 characters (~190 bits of entropy). */
export function generateApiKey(kind: KeyKind): string {
  const bytes = randomBytes(48);
  let body = '';
  for (const b of bytes) {
    if (b < 248) body += B62[b % 62];
    if (body.length === 32) break;
  }
  while (body.length < 32) body += B62[randomBytes(1)[0]! % 62];
  return KEY_PREFIX[kind] + body;
}

/** Keys carry ~190 bits of entropy, so one SHA-256 is enough; a slow KDF would only slow every request. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function kindOfKey(key: string): KeyKind | undefined {
  for (const kind of KEY_KINDS) {
    if (key.startsWith(KEY_PREFIX[kind]) && /^[0-9A-Za-z]{32}$/.test(key.slice(KEY_PREFIX[kind].length))) {
      return kind;
    }
  }
  return undefined;
}

export function safeEqualHex(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}
