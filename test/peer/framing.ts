/**
 * Length-prefixed frame codec of the drachtio wire protocol: `<N>#<body>`,
 * N being the body length in BYTES (not UTF-16 code units).
 */

/**
 * drachtio-server reads each app connection into a fixed 12,228-byte ring
 * buffer (`boost::circular_buffer<char> m_buffer(12228)` in client.cpp). A
 * frame that cannot fit is never processed, and because the server then waits
 * forever for the rest of it, nothing later on that connection is processed
 * either. The peer models this by poisoning the connection.
 */
export const SERVER_RECEIVE_BUFFER_BYTES = 12_228;

/** The server reads at most 5 length digits; a 6th is a protocol error. */
const MAX_LENGTH_DIGITS = 5;
const HASH = 0x23; // '#'
const EMPTY = Buffer.alloc(0);

export class FramingError extends Error {
  override name = 'FramingError';
}

/** Encode one frame; the prefix counts bytes so multi-byte UTF-8 is framed right. */
export function encodeFrame(body: string): string {
  return `${Buffer.byteLength(body, 'utf8')}#${body}`;
}

/**
 * Incremental decoder: feed it TCP chunks, get back complete frame bodies.
 * Handles frames split anywhere (even inside the length prefix or inside a
 * multi-byte character) and several frames per chunk.
 */
export class FrameDecoder {
  private pending: Buffer = EMPTY;
  private poisonedBy = 0;

  /** @param maxFrameBytes frames whose total size (prefix + '#' + body) exceeds this poison the stream */
  constructor(private readonly maxFrameBytes = Number.POSITIVE_INFINITY) {}

  /** Total size of the frame that poisoned the stream, or 0 if it is healthy. */
  get poisonedFrameBytes(): number {
    return this.poisonedBy;
  }

  get isPoisoned(): boolean {
    return this.poisonedBy > 0;
  }

  /** Returns the bodies completed by this chunk; throws FramingError on a malformed prefix. */
  push(chunk: Buffer): string[] {
    if (this.isPoisoned) return [];
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const bodies: string[] = [];
    let offset = 0;
    while (offset < buf.length) {
      const hash = buf.indexOf(HASH, offset);
      if (hash < 0) {
        // Prefix not complete yet; still reject garbage early.
        readLength(buf, offset, buf.length);
        break;
      }
      const bodyLength = readLength(buf, offset, hash);
      const frameBytes = hash - offset + 1 + bodyLength;
      if (frameBytes > this.maxFrameBytes) {
        this.poisonedBy = frameBytes;
        this.pending = EMPTY;
        return bodies;
      }
      const bodyStart = hash + 1;
      if (buf.length - bodyStart < bodyLength) break; // wait for the rest of the body
      bodies.push(buf.toString('utf8', bodyStart, bodyStart + bodyLength));
      offset = bodyStart + bodyLength;
    }
    // Copy the leftover so a large chunk is not kept alive by a small tail.
    this.pending = offset >= buf.length ? EMPTY : Buffer.from(buf.subarray(offset));
    return bodies;
  }
}

/** Parse the decimal digits in buf[start, end); end === start only valid while incomplete. */
function readLength(buf: Buffer, start: number, end: number): number {
  const complete = end < buf.length; // a '#' follows
  const invalid = () =>
    new FramingError(`invalid message length specifier: ${JSON.stringify(buf.toString('latin1', start, Math.min(end + 1, start + 12)))}`);
  if (end - start > MAX_LENGTH_DIGITS || (complete && end === start)) throw invalid();
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c < 0x30 || c > 0x39) throw invalid();
    n = n * 10 + (c - 0x30);
  }
  if (complete && n === 0) throw invalid();
  return n;
}
