import { createServer, type Server, type Socket } from 'node:net';

/** The first byte of a TLS handshake record. */
const tlsHandshake = 0x16;

/**
 * One TCP listener for two protocols: a connection whose first byte opens a TLS handshake goes to
 * `onTls`, any other (an AMQP protocol header starts with 'A') to `onAmqp`. The byte read to decide
 * is put back, so each handler sees the stream from its start.
 */
export function createSniffingServer(
  onTls: (socket: Socket) => void,
  onAmqp: (socket: Socket) => void,
): Server {
  return createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      if (chunk[0] === tlsHandshake) {
        onTls(socket);
      } else {
        onAmqp(socket);
        socket.resume();
      }
    });
  });
}
