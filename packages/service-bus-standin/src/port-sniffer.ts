import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TlsOptions } from 'node:tls';

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

/** The first byte of an AMQP protocol header (`AMQP`). */
const amqpHeader = 0x41;

/**
 * A TLS endpoint for two protocols: once the handshake is done, a stream whose first byte opens an
 * AMQP protocol header goes to `onAmqp`, any other (an HTTP request) to `onHttp`. Sockets are fed to
 * it with `emit('connection', socket)`.
 */
export function createTlsSniffingServer(
  options: TlsOptions,
  onHttp: (socket: Socket) => void,
  onAmqp: (socket: Socket) => void,
): TlsServer {
  const server = createTlsServer(options, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      if (chunk[0] === amqpHeader) onAmqp(socket);
      else onHttp(socket);
      socket.resume();
    });
  });
  server.on('tlsClientError', (_error, socket) => socket.destroy());
  return server;
}
