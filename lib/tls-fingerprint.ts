/**
 * A TLS certificate's SHA-256 fingerprint, the form a Redfish BMC's certificate is pinned in
 * (nodes.bmc_tls_fingerprint): upper-case hex pairs joined by ':', as Node's `fingerprint256` and
 * `openssl x509 -noout -fingerprint -sha256` print it. Plain functions: the API (validation,
 * registration) and the drivers share them.
 */

/** What the API accepts: 32 hex pairs, colons optional, an optional `sha256:` prefix. */
export const TLS_FINGERPRINT_PATTERN = '^(sha256[:=]?)?([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$';

/** Normalises a fingerprint to the stored form ("AB:CD:…"). */
export function normalizeTlsFingerprint(fp: string): string {
  const hex = fp
    .replace(/^.*=/, '') // openssl's "sha256 Fingerprint=AB:…"
    .replace(/^\s*sha256:?/i, '')
    .replace(/[^0-9a-fA-F]/g, '')
    .toUpperCase();
  return hex.match(/.{2}/g)?.join(':') ?? '';
}
