// The frames one event-loop turn sends to drachtio-server leave the socket in one write (lib/drachtio.ts),
// in order and unchanged, and a later turn's frames are not held back.
import t from 'tap';
import { createServer, connect, type Socket } from 'node:net';
import { coalesceWrites } from '../lib/drachtio.js';
import { eventually } from './helpers/harness.js';

t.test('frames of one turn: one write of all of them, in order; the next turn writes again', async (t) => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  const peer = await accepted;
  t.teardown(() => { client.destroy(); peer.destroy(); server.close(); });

  // Counts the writes Node hands to the system: _writev for a corked batch, _write for a lone chunk.
  const writes: number[] = [];
  const s = client as unknown as { _writev: Function; _write: Function };
  const writev = s._writev.bind(client), write = s._write.bind(client);
  s._writev = (chunks: unknown[], cb: unknown) => { writes.push(chunks.length); return writev(chunks, cb); };
  s._write = (c: unknown, e: unknown, cb: unknown) => { writes.push(1); return write(c, e, cb); };

  const wp = { send: (socket: Socket, msg: string) => { socket.write(`${msg.length}#${msg}`); return msg; } };
  coalesceWrites(wp);
  let received = '';
  peer.on('data', (d) => { received += d; });

  await Promise.resolve().then(() => { wp.send(client, 'one'); wp.send(client, 'two'); }).then(() => wp.send(client, 'three'));
  await new Promise((r) => setImmediate(r));
  t.same(writes, [3], 'three frames sent across microtasks of one turn: one write of three chunks');
  wp.send(client, 'four');
  await new Promise((r) => setImmediate(r));
  t.same(writes, [3, 1], 'a frame of the next turn leaves in that turn');
  const expected = '3#one3#two5#three4#four';
  await eventually(() => received.length >= expected.length, 5000, 10, 'all four frames received');
  t.equal(received, expected, 'every frame arrived, in order, unchanged');
});
