import { describe, expect, it } from 'vitest';
import { canonicalIp, controlCharacterPath } from '../../api/schemas/validation';
import { escapeLike } from '../../db/repositories/operations.repository';
import { forbiddenAddressReason } from '../../lib/addresses';

describe('canonicalIp (issue 8 #8)', () => {
  it('folds IPv4-mapped IPv6 to IPv4 and writes IPv6 lowercase and compressed', () => {
    expect(canonicalIp('::ffff:10.0.0.5')).toBe('10.0.0.5');
    expect(canonicalIp('::FFFF:0a00:0005')).toBe('10.0.0.5');
    expect(canonicalIp('0:0:0:0:0:ffff:c0a8:0101')).toBe('192.168.1.1');
    expect(canonicalIp('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(canonicalIp('::1')).toBe('::1');
    expect(canonicalIp('10.0.0.5')).toBe('10.0.0.5');
    // Not mapped (IPv4-compatible / NAT64 prefixes stay IPv6).
    expect(canonicalIp('64:ff9b::a00:5')).toBe('64:ff9b::a00:5');
  });
});

describe('forbiddenAddressReason (issue 8 #9)', () => {
  it('names why an address is never contacted for a live node, and lets ordinary machine addresses through', () => {
    expect(forbiddenAddressReason('127.0.0.1')).toMatch(/loopback/);
    expect(forbiddenAddressReason('169.254.169.254')).toMatch(/metadata/);
    expect(forbiddenAddressReason('fd00:ec2::254')).toMatch(/metadata/);
    expect(forbiddenAddressReason('169.254.1.2')).toMatch(/link-local/);
    expect(forbiddenAddressReason('fe80::1')).toMatch(/link-local/);
    expect(forbiddenAddressReason('0.0.0.0')).toMatch(/unspecified/);
    expect(forbiddenAddressReason('::')).toMatch(/unspecified/);
    expect(forbiddenAddressReason('239.1.1.1')).toMatch(/multicast/);
    expect(forbiddenAddressReason('255.255.255.255')).toMatch(/broadcast/);
    for (const ok of ['10.0.0.5', '192.168.1.10', '172.16.0.1', '2001:db8::1', 'fd00::5', '8.8.8.8'])
      expect(forbiddenAddressReason(ok)).toBeNull();
  });
});

describe('escapeLike and the control-character check (issue 8 #7, #13)', () => {
  it('escapes LIKE wildcards, so clus_% matches only itself', () => {
    expect(escapeLike('clus_%')).toBe('clus\\_\\%');
    expect(escapeLike('a\\b')).toBe('a\\\\b');
  });

  it('finds the first string or key with a forbidden control character; tab, LF and CR are allowed', () => {
    expect(controlCharacterPath({ node_ids: ['ok', '\u0000'] })).toEqual(['node_ids', '1']);
    expect(controlCharacterPath({ a: { 'b\u0007': 1 } })).toEqual(['a', 'b?']);
    expect(controlCharacterPath({ key: '-----BEGIN\r\n\tx\n' })).toBeNull();
    expect(controlCharacterPath({ n: 1, b: true, x: null })).toBeNull();
    expect(controlCharacterPath('\u007f')).toEqual([]);
  });
});
