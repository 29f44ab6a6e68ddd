import { createHmac, timingSafeEqual } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { forbiddenAddressReason } from './addresses';

/**
 * Private networks a live webhook must not target unless NF_WEBHOOK_ALLOW_CIDRS lists them: a
 * webhook must not become a way into the control plane's own network (issue 11).
 */
const PRIVATE = (() => {
  const l = new BlockList();
  l.addSubnet('10.0.0.0', 8, 'ipv4');
  l.addSubnet('172.16.0.0', 12, 'ipv4');
  l.addSubnet('192.168.0.0', 16, 'ipv4');
  l.addSubnet('100.64.0.0', 10, 'ipv4');
  l.addSubnet('fc00::', 7, 'ipv6');
  return l;
})();

function allowList(cidrs: readonly string[]): BlockList {
  const l = new BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split('/') as [string, string];
    l.addSubnet(addr, Number(bits), isIP(addr) === 4 ? 'ipv4' : 'ipv6');
  }
  return l;
}

/**
 * Why this resolved address may not receive webhooks, or null. Sandbox (test-key) webhooks may target
 * loopback and private addresses (a developer's receiver on their machine); link-local and cloud
 * metadata addresses are refused in every environment. An address inside NF_WEBHOOK_ALLOW_CIDRS is
 * allowed (an operator's decision).
 */
export function forbiddenWebhookAddress(
  address: string,
  environment: 'live' | 'sandbox',
  allowCidrs: readonly string[],
): string | null {
  const family = isIP(address);
  if (family === 0) return 'not an IP address';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (allowCidrs.length && allowList(allowCidrs).check(address, type)) return null;
  const why = forbiddenAddressReason(address) ?? (PRIVATE.check(address, type) ? 'a private address' : null);
  if (!why) return null;
  if (environment === 'sandbox' && (why === 'a loopback address (this host)' || why === 'a private address')) {
    return null;
  }
  return why;
}

/**
 * Why a webhook URL is refused, or null: http(s) only, no credentials in it, and every address its
 * host resolves to must be allowed (checked again at each delivery: DNS may change).
 */
export async function webhookUrlProblem(
  raw: string,
  environment: 'live' | 'sandbox',
  allowCidrs: readonly string[],
): Promise<string | null> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be http or https';
  if (url.username || url.password) return 'must not carry credentials';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch {
      return `host ${host} does not resolve`;
    }
  }
  for (const a of addresses) {
    const v4 = a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
    const why = forbiddenWebhookAddress(v4, environment, allowCidrs);
    if (why) return `resolves to ${v4}, ${why}`;
  }
  return null;
}

/** The signature a receiver checks: hex HMAC-SHA256(secret, `${timestamp}.${body}`). */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** A receiver's check (docs/api.md): the signature matches and the timestamp is within `toleranceS`. */
export function verifyWebhookSignature(
  secret: string,
  headers: { timestamp: string; signature: string },
  body: string,
  nowS = Math.floor(Date.now() / 1000),
  toleranceS = 300,
): boolean {
  const ts = Number(headers.timestamp);
  if (!Number.isInteger(ts) || Math.abs(nowS - ts) > toleranceS) return false;
  const want = Buffer.from(webhookSignature(secret, headers.timestamp, body), 'hex');
  const got = Buffer.from(headers.signature.replace(/^v1=/, ''), 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}
