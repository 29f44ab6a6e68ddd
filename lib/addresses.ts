import { BlockList, isIP } from 'node:net';

/**
 * Addresses a live node must not have unless configuration allows them (NF_ALLOW_LOCAL_ADDRESSES):
 * registering one would make the worker connect to itself (a database on 127.0.0.1:5432), to the
 * cloud's metadata service (169.254.169.254, fd00:ec2::254), or to no single machine at all
 * (unspecified, multicast, broadcast). Each entry says why, for the 400.
 */
const RULES: { why: string; add(list: BlockList): void }[] = [
  {
    why: 'a loopback address (this host)',
    add: (l) => (l.addSubnet('127.0.0.0', 8, 'ipv4'), l.addAddress('::1', 'ipv6')),
  },
  {
    why: 'a cloud metadata address',
    add: (l) => (
      l.addAddress('169.254.169.254', 'ipv4'),
      l.addAddress('fd00:ec2::254', 'ipv6'),
      l.addAddress('100.100.100.200', 'ipv4')
    ),
  },
  {
    why: 'a link-local address',
    add: (l) => (l.addSubnet('169.254.0.0', 16, 'ipv4'), l.addSubnet('fe80::', 10, 'ipv6')),
  },
  { why: 'an unspecified address', add: (l) => (l.addSubnet('0.0.0.0', 8, 'ipv4'), l.addAddress('::', 'ipv6')) },
  { why: 'a multicast address', add: (l) => (l.addSubnet('224.0.0.0', 4, 'ipv4'), l.addSubnet('ff00::', 8, 'ipv6')) },
  { why: 'a broadcast or reserved address', add: (l) => l.addSubnet('240.0.0.0', 4, 'ipv4') },
];

const LISTS = RULES.map((r) => {
  const list = new BlockList();
  r.add(list);
  return { why: r.why, list };
});

/**
 * Why `address` (canonical: IPv4-mapped IPv6 already folded to IPv4) cannot be a live machine's,
 * or null when it can.
 */
export function forbiddenAddressReason(address: string): string | null {
  const family = isIP(address);
  if (family === 0) return 'not an IP address';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const { why, list } of LISTS) if (list.check(address, type)) return why;
  return null;
}
