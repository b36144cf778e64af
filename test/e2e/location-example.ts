// How a drachtio-srf call app reaches a registered device with the location API (README: "Location
// lookup"). Kept here so that test/e2e/location.test.ts runs it through a real drachtio-server: if it
// stops working, that test fails.
import type Srf from 'drachtio-srf';
// The answer's shape (contact, source_address, source_port, transport, expires_in, user_agent).
import type { LocatedBinding } from '../../lib/location/service.js';

type SrfApp = InstanceType<typeof Srf>;

/** The registered devices of `aor` (user@domain), most recent first; [] when none is registered. */
export async function locate(locationUrl: string, token: string, aor: string): Promise<LocatedBinding[]> {
  const res = await fetch(`${locationUrl}/v1/locations/${encodeURIComponent(aor)}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (res.status === 404) return [];
  if (!res.ok) throw new Error(`location lookup failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { bindings: LocatedBinding[] }).bindings;
}

/**
 * Calls a registered device: the Request-URI is its Contact, and the INVITE goes to the address and
 * port its REGISTER came from, over the same transport — the only path that crosses its NAT, and over
 * TCP the connection the device keeps open.
 */
export function inviteBinding(srf: SrfApp, b: LocatedBinding, o: { from: string; localSdp: string }) {
  const host = b.source_address.includes(':') ? `[${b.source_address}]` : b.source_address;
  return srf.createUAC(b.contact, {
    proxy: `sip:${host}:${b.source_port};transport=${b.transport}`,
    headers: { From: o.from },
    localSdp: o.localSdp,
  });
}
