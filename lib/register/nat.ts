// Is a device behind a NAT? A UDP device behind one stays reachable only while its NAT keeps the
// pinhole open (often 30–60 s of silence), so it is granted a short expiry and re-registers often
// enough to keep it open. TCP, TLS and WebSocket devices keep their connection, and with it the path.
//
// Behind a NAT, for a UDP REGISTER, when:
//   - the Contact host is not the packet's source address (a hostname never is): something between
//     rewrote the source, or the device names an address we cannot reach (private, loopback or
//     link-local ones included);
//   - or it is, but the address is private (RFC 1918, RFC 6598 shared space, IPv6 ULA): the device
//     may sit behind a NAT whose outside address is itself private (carrier-grade NAT, an enterprise
//     network) and have learnt that address by STUN or had it written in by a SIP ALG.
// Not behind a NAT: a Contact host equal to a source that is public, loopback or link-local. A
// loopback or link-local packet cannot have crossed a router, let alone a NAT; an equal public one
// reached us unchanged.
import { BlockList, isIP } from 'node:net';
import { parseSipUri } from './sip-headers.js';

const PRIVATE = new BlockList();
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');
PRIVATE.addSubnet('100.64.0.0', 10, 'ipv4');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');

/** An IP literal in one spelling: no brackets, IPv6 compressed and lower-case, IPv4-mapped IPv6 as IPv4. */
function canonical(host: string): string | null {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = isIP(bare);
  if (family === 4) return bare;
  if (family !== 6) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped && isIP(mapped[1]!) === 4) return mapped[1]!;
  return new URL(`http://[${bare}]`).hostname.slice(1, -1);
}

/** Whether a device that sent a REGISTER over `transport` from `source` with this Contact URI is behind a NAT. */
export function behindNat(contactUri: string, source: string, transport: string): boolean {
  if (transport.toLowerCase() !== 'udp') return false;
  const host = parseSipUri(contactUri)?.host;
  const contact = host === undefined ? null : canonical(host);
  const from = canonical(source);
  if (contact === null || from === null || contact !== from) return true;
  return PRIVATE.check(from, isIP(from) === 4 ? 'ipv4' : 'ipv6');
}

