import type { Socket } from 'node:net';
import rhea, {
  type Connection,
  type ConnectionOptions,
  type EventContext,
  type Message,
  type Receiver,
  type Sender,
} from 'rhea';
import type { AccessTokens } from './access-token.js';
import { encodedSize, messagesOfTransfer, withMessageId } from './amqp-codec.js';
import { BrokerError, entityNotFoundError } from './broker-error.js';
import { putToken, type Reply } from './cbs.js';
import type { Namespace } from './entities.js';
import type { Faults } from './faults.js';
import { LinkConsumer } from './link-consumer.js';
import { handleManagementRequest } from './management.js';
import { grantCovers, type SasGrant, type SasPolicy } from './sas.js';

/** What the AMQP side of the stand-in needs. */
export interface AmqpServerOptions {
  readonly namespace: Namespace;
  readonly policies: readonly SasPolicy[];
  readonly accessTokens: AccessTokens;
  readonly faults: Faults;
  /** The `max_message_size` sent on every sender attach (bytes); larger transfers are rejected. */
  readonly maxMessageSize: number;
}

/** Per-connection state: the CBS grants and the reply links of request/response pairs. */
interface ConnectionState {
  readonly grants: SasGrant[];
  readonly replyLinks: Map<string, Sender>;
  readonly consumers: Set<LinkConsumer & { readonly detach: () => void }>;
}

const cbsAddress = '$cbs';
const managementSuffix = '/$management';

/**
 * The AMQP 1.0 endpoint: accepts sockets (SASL ANONYMOUS; plain or already TLS-wrapped), answers CBS put-token and
 * `$management` requests, takes messages on links a client sends on (single and batch format,
 * `max_message_size` enforced, broker message ids assigned) and feeds links a client receives on from
 * the addressed queue. A link to an address without a valid CBS grant is detached with
 * `amqp:unauthorized-access`, one to an unknown entity with `amqp:not-found`.
 */
export class AmqpServer {
  private readonly container = rhea.create_container({ id: 'service-bus-standin' });
  private readonly connections = new Map<Connection, ConnectionState>();
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: AmqpServerOptions) {
    const container = this.container;
    container.on('connection_open', (context: EventContext) => {
      this.connections.set(context.connection, { grants: [], replyLinks: new Map(), consumers: new Set() });
    });
    container.on('disconnected', (context: EventContext) => this.forget(context.connection));
    container.on('connection_close', (context: EventContext) => this.forget(context.connection));
    container.on('receiver_open', (context: EventContext) => this.onClientSender(context));
    container.on('sender_open', (context: EventContext) => this.onClientReceiver(context));
    container.on('message', (context: EventContext) => this.onMessage(context));
    // rhea reports here what went wrong on a connection it then ends (a peer's bad frames, or an
    // exception in a handler above): a test sees the SDK reconnect, and stderr says why.
    container.on('error', (error: Error) => console.error(`service bus stand-in: ${error.message}`));
  }

  /** Serves an accepted socket whose first bytes are an AMQP protocol header. */
  accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // Link options a server cannot pass per link are read from the connection's options.
    const connection = this.container.create_connection({
      autoaccept: false,
      treat_modified_as_released: false,
      container_id: 'service-bus-standin',
    } as unknown as ConnectionOptions);
    (connection as Connection & { accept(socket: Socket): void }).accept(socket);
  }

  /** Destroys every client socket at once (a fault hook); how many there were. */
  dropConnections(): number {
    const count = this.sockets.size;
    for (const socket of this.sockets) socket.destroy();
    return count;
  }

  private forget(connection: Connection): void {
    const state = this.connections.get(connection);
    if (state === undefined) return;
    this.connections.delete(connection);
    for (const consumer of state.consumers) consumer.detach();
  }

  private state(connection: Connection): ConnectionState {
    const state = this.connections.get(connection);
    if (state === undefined) throw new Error('a link on a connection that is not open');
    return state;
  }

  /** The client attached a sender: to `$cbs`, to a `$management` node, or to an entity. */
  private onClientSender(context: EventContext): void {
    const receiver = context.receiver!;
    const address = String(receiver.target?.address ?? '');
    receiver.set_target({ address });
    if (address === cbsAddress || address.endsWith(managementSuffix)) return;
    const path = address.replace(/^\/+/, '');
    const refusal = this.refusal(context.connection, path);
    const target = this.options.namespace.resolve(path).sendTarget;
    if (refusal !== undefined || target === undefined) {
      this.detach(receiver, refusal ?? entityNotFoundError(path));
      return;
    }
    localAttach(receiver).max_message_size = this.options.maxMessageSize;
  }

  /** The client attached a receiver: a reply link of a request/response pair, or an entity. */
  private onClientReceiver(context: EventContext): void {
    const sender = context.sender!;
    const address = String(sender.source?.address ?? '');
    const local = localAttach(sender);
    local.snd_settle_mode = sender.snd_settle_mode;
    local.rcv_settle_mode = sender.rcv_settle_mode;
    sender.set_source({ address });
    const state = this.state(context.connection);
    if (address === cbsAddress || address.endsWith(managementSuffix)) {
      state.replyLinks.set(sender.name, sender);
      const replyTo = sender.target?.address;
      if (typeof replyTo === 'string') state.replyLinks.set(replyTo, sender);
      return;
    }
    const path = address.replace(/^\/+/, '');
    const filters = (sender.source as { filter?: Record<string, unknown> } | undefined)?.filter ?? {};
    const refusal =
      this.refusal(context.connection, path) ??
      ('com.microsoft:session-filter' in filters
        ? new BrokerError('amqp:not-implemented', 'Sessions are not implemented by the stand-in.', 501)
        : undefined);
    const queue = this.options.namespace.resolve(path).receiveFrom;
    if (refusal !== undefined || queue === undefined) {
      this.detach(sender, refusal ?? entityNotFoundError(path));
      return;
    }
    const mode = sender.snd_settle_mode === 1 ? 'receiveAndDelete' : 'peekLock';
    const consumer = Object.assign(new LinkConsumer(sender, mode, queue, this.options.faults), {
      detach: () => {
        queue.removeConsumer(consumer);
        state.consumers.delete(consumer);
      },
    });
    state.consumers.add(consumer);
    sender.on('sender_close', () => consumer.detach());
    queue.addConsumer(consumer);
  }

  private onMessage(context: EventContext): void {
    const receiver = context.receiver!;
    const delivery = context.delivery!;
    const address = String(receiver.target?.address ?? '');
    if (address === cbsAddress || address.endsWith(managementSuffix)) {
      delivery.accept();
      this.answer(context, address, context.message!);
      return;
    }
    const path = address.replace(/^\/+/, '');
    try {
      const fault = this.options.faults.take('send');
      if (fault !== undefined) throw fault;
      const target = this.options.namespace.resolve(path).sendTarget;
      if (target === undefined) throw entityNotFoundError(path);
      const format = (context as EventContext & { format?: number }).format;
      const payload = context.message as Message | Buffer;
      const size = Buffer.isBuffer(payload) ? payload.length : encodedSize(payload);
      if (size > this.options.maxMessageSize) {
        throw new BrokerError(
          'amqp:link:message-size-exceeded',
          `The received message (delivery-id:${delivery.id}, size:${size} bytes) exceeds the limit (${this.options.maxMessageSize} bytes) currently allowed on the link.`,
          403,
        );
      }
      const messages = messagesOfTransfer(payload, format).map(withMessageId);
      for (const message of messages)
        target.accept(message, messages.length === 1 ? size : encodedSize(message));
      delivery.accept();
    } catch (error) {
      const refusal =
        error instanceof BrokerError
          ? error
          : new BrokerError(
              'amqp:decode-error',
              `The message could not be read: ${(error as Error).message}`,
              400,
            );
      delivery.reject({ condition: refusal.condition, description: refusal.message });
    }
  }

  private answer(context: EventContext, address: string, request: Message): void {
    const state = this.state(context.connection);
    let reply: Reply;
    if (address === cbsAddress) {
      reply = putToken(
        request,
        this.options.policies,
        state.grants,
        this.options.faults,
        this.options.accessTokens,
      );
    } else {
      const path = address.slice(0, -managementSuffix.length).replace(/^\/+/, '');
      const refusal = this.refusal(context.connection, address.replace(/^\/+/, ''));
      reply =
        refusal === undefined
          ? handleManagementRequest(request, path, this.options.namespace.resolve(path), this.options.faults)
          : {
              application_properties: {
                statusCode: refusal.statusCode,
                statusDescription: refusal.message,
                errorCondition: refusal.condition,
              },
            };
    }
    const replyLink = state.replyLinks.get(String(request.reply_to));
    replyLink?.send({ body: null, ...reply, correlation_id: request.message_id, to: request.reply_to });
  }

  /** Why the connection may not use `path`, or `undefined` when a CBS grant covers it. */
  private refusal(connection: Connection, path: string): BrokerError | undefined {
    const grants = this.connections.get(connection)?.grants ?? [];
    if (grants.some((grant) => grantCovers(grant, path))) return undefined;
    return new BrokerError(
      'amqp:unauthorized-access',
      `Unauthorized access. No valid token (CBS put-token) covers '${path}' on this connection.`,
      401,
    );
  }

  private detach(link: Sender | Receiver, error: BrokerError): void {
    link.close({ condition: error.condition, description: error.message });
  }
}

/** The attach frame rhea will send for `link` (the fields a server sets before it goes out). */
function localAttach(link: Sender | Receiver): {
  max_message_size?: number;
  snd_settle_mode?: number;
  rcv_settle_mode?: number;
} {
  return (link as unknown as { local: { attach: ReturnType<typeof localAttach> } }).local.attach;
}
