/**
 * A TCP proxy in front of the local broker that can do to one connection what RabbitMQ does to it
 * during a memory or disk alarm, without raising an alarm on the shared broker: once armed, a
 * connection that sends a `basic.publish` is blocked, that is, nothing more it sends is passed on
 * (RabbitMQ stops reading the socket of a connection that publishes during an alarm; its acks stall
 * with it). Connections that do not publish are left alone, as RabbitMQ leaves them.
 * https://www.rabbitmq.com/docs/connection-blocked
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { brokerUrl } from './broker.js';

/** Frame type of a method frame, and basic.publish's class and method ids (AMQP 0-9-1). */
const methodFrame = 1;
const basicClass = 60;
const publishMethod = 40;

interface Link {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Bytes from the client not yet parsed into whole frames. */
  pending: Buffer;
  /** Set once the 8-byte protocol header went through. */
  started: boolean;
  blocked: boolean;
  /** Held while blocked, passed on at release. */
  readonly held: Buffer[];
  published: boolean;
}

export class AmqpProxy {
  private readonly links = new Set<Link>();
  private armed = false;

  private constructor(private readonly server: Server) {}

  /** Listens on a free port of 127.0.0.1, forwarding to the broker of the tests. */
  static async start(): Promise<AmqpProxy> {
    const target = new URL(brokerUrl);
    const proxy: AmqpProxy = new AmqpProxy(
      createServer((client) => proxy.accept(client, target.hostname, Number(target.port || 5672))),
    );
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** `url` (a vhost URL of the test broker) through this proxy. */
  url(url: string): string {
    const through = new URL(url);
    through.hostname = '127.0.0.1';
    through.port = String((this.server.address() as AddressInfo).port);
    return through.toString();
  }

  /** Client connections open through the proxy. */
  get connections(): number {
    return this.links.size;
  }

  /** Connections that sent a `basic.publish` since they opened. */
  get publishingConnections(): number {
    return [...this.links].filter((link) => link.published).length;
  }

  /** From now on, a connection that publishes is blocked. */
  blockPublishers(): void {
    this.armed = true;
  }

  /** Connections blocked now. */
  get blocked(): number {
    return [...this.links].filter((link) => link.blocked).length;
  }

  /** Ends the alarm: blocked connections pass on what they held, and nothing more is blocked. */
  release(): void {
    this.armed = false;
    for (const link of this.links) {
      if (!link.blocked) continue;
      link.blocked = false;
      for (const chunk of link.held.splice(0)) link.upstream.write(chunk);
    }
  }

  async close(): Promise<void> {
    for (const link of this.links) {
      link.client.destroy();
      link.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, host: string, port: number): void {
    const upstream = connect(port, host);
    const link: Link = {
      client,
      upstream,
      pending: Buffer.alloc(0),
      started: false,
      blocked: false,
      held: [],
      published: false,
    };
    this.links.add(link);
    const end = () => {
      this.links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => this.fromClient(link, chunk));
  }

  /** Passes client bytes on frame by frame, blocking the link at its first publish while armed. */
  private fromClient(link: Link, chunk: Buffer): void {
    link.pending = Buffer.concat([link.pending, chunk]);
    if (!link.started) {
      if (link.pending.length < 8) return;
      this.forward(link, link.pending.subarray(0, 8));
      link.pending = link.pending.subarray(8);
      link.started = true;
    }
    while (link.pending.length >= 7) {
      const size = link.pending.readUInt32BE(3);
      if (link.pending.length < 8 + size) return;
      const frame = link.pending.subarray(0, 8 + size);
      link.pending = link.pending.subarray(8 + size);
      const isPublish =
        frame[0] === methodFrame &&
        size >= 4 &&
        frame.readUInt16BE(7) === basicClass &&
        frame.readUInt16BE(9) === publishMethod;
      if (isPublish) {
        link.published = true;
        if (this.armed) link.blocked = true;
      }
      this.forward(link, frame);
    }
  }

  private forward(link: Link, bytes: Buffer): void {
    if (link.blocked) link.held.push(Buffer.from(bytes));
    else link.upstream.write(bytes);
  }
}
