// A tiny drachtio-srf client that routes cdr:attempt/start/stop on a real drachtio-server and records
// each event (test/peer/cdr-calls.ts seenEvent): how the README's table of what drachtio-server sends
// is captured, and checked against the peer's CALL_SHAPES.
import { asShape, seenEvent, type SeenEvent } from '../peer/cdr-calls.js';
import type { DrachtioServer } from './drachtio-server.js';
import { connectSrf } from './srf-client.js';

export interface CdrRecorder {
  events: SeenEvent[];
  /** The events since `from` (an index into events), in CALL_SHAPES notation. */
  shapeSince(from: number): string[];
  stop(): void;
}

export async function startCdrRecorder(drachtio: DrachtioServer): Promise<CdrRecorder> {
  const events: SeenEvent[] = [];
  const client = await connectSrf(drachtio, 'the CDR recorder', (srf) => {
    const on = srf.on.bind(srf) as unknown as (event: string, fn: (...args: unknown[]) => void) => void;
    for (const type of ['attempt', 'start', 'stop'] as const) on(`cdr:${type}`, (...args) => events.push(seenEvent(type, args)));
  });
  return { events, shapeSince: (from) => asShape(events.slice(from)), stop: () => client.stop() };
}
