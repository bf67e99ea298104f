import { Container, inject } from 'inversify';
import { describe, expect, it } from 'vitest';
import {
  Consumer,
  ConsumerHost,
  defineCommand,
  ErrorCodes,
  EventHandler,
  defineEvent,
  InMemoryTransport,
  PeriodicWorker,
  type HandlerClass,
  type PeriodicTaskClass,
} from '@sluice/core';

const Cmd = defineCommand<{ id: string }>('test.inject-it.v1');
const Evt = defineEvent<{ id: string }>('test.injected.v1');

/** What TypeScript's standard (TC39) decorators pass as the second argument of a class decorator. */
function standardContext(name: string): ClassDecoratorContext {
  return { kind: 'class', name, metadata: {}, addInitializer: () => undefined } as ClassDecoratorContext;
}

/** Applies a decorator the way standard decorators do (vitest's transform compiles legacy ones). */
function decorateStandard<C extends abstract new (...args: never[]) => unknown>(
  decorator: (target: C, context?: ClassDecoratorContext) => void,
  cls: C,
): C {
  decorator(cls, standardContext(cls.name));
  return cls;
}

class Gateway {
  readonly id = 'gateway';
}
const CLOCK = Symbol('clock');

async function startWith(
  consumers: HandlerClass<never>[],
  container = new Container(),
  workers: PeriodicTaskClass[] = [],
) {
  const host = new ConsumerHost({
    serviceName: 'svc',
    transport: new InMemoryTransport(),
    consumers,
    workers,
    container,
    handleSignals: false,
  });
  await host.start();
  return host;
}

async function startError(consumers: HandlerClass<never>[], workers: PeriodicTaskClass[] = []) {
  const container = new Container();
  container.bind(Gateway).toSelf();
  return startWith(consumers, container, workers).then(
    () => {
      throw new Error('start() should have failed');
    },
    (error: unknown) => error as Error & { code?: string },
  );
}

describe('constructor injection, standard decorators', () => {
  it('injects the tokens of the inject option, in order, and handles a message end to end', async () => {
    const seen: unknown[] = [];
    class Charge {
      constructor(
        private readonly gateway: Gateway,
        private readonly clock: () => string,
      ) {}
      handle(message: { id: string }) {
        seen.push([message.id, this.gateway.id, this.clock()]);
      }
    }
    decorateStandard(Consumer({ queue: 'std-work', message: Cmd, inject: [Gateway, CLOCK] }), Charge);
    const container = new Container();
    container.bind(Gateway).toSelf();
    container.bind(CLOCK).toConstantValue(() => 'noon');
    const host = await startWith([Charge], container);
    const handled = new Promise((resolve) => host.once('settled', resolve));
    await host.bus.send(Cmd, { id: 'm-1' });
    await handled;
    await host.stop();
    expect(seen).toEqual([['m-1', 'gateway', 'noon']]);
  });

  it('names class and position when a parameter has no token', async () => {
    class NeedsGateway {
      constructor(readonly gateway: Gateway) {}
      handle() {}
    }
    decorateStandard(EventHandler(Evt, { subscription: 's' }), NeedsGateway);
    const error = await startError([NeedsGateway]);
    expect(error.code).toBe(ErrorCodes.INVALID_OPTION);
    expect(error.message).toBe(
      '@EventHandler on NeedsGateway: constructor parameter 0 has no token: standard decorators have no parameter decorators, so list the constructor\'s dependencies in order in the decorator\'s "inject" option (inject: [Token, ...])',
    );
  });

  it('refuses an inject option that does not list every parameter, or lists a non-token', async () => {
    class TwoDeps {
      constructor(
        readonly a: Gateway,
        readonly b: Gateway,
      ) {}
      handle() {}
    }
    decorateStandard(Consumer({ queue: 'two', message: Cmd, inject: [Gateway] }), TwoDeps);
    expect((await startError([TwoDeps])).message).toBe(
      '@Consumer on TwoDeps: option "inject" lists 1 token(s) but the constructor takes 2 parameter(s); list one per parameter, in order',
    );
    class BadToken {
      constructor(readonly a: Gateway) {}
      handle() {}
    }
    decorateStandard(Consumer({ queue: 'bad', message: Cmd, inject: [42 as never] }), BadToken);
    expect((await startError([BadToken])).message).toBe(
      '@Consumer on BadToken: option "inject" at position 0 must be a class, a symbol or a string (got 42)',
    );
  });

  it('reports an injected token that is not bound, by position and name', async () => {
    class Unbound {
      constructor(readonly clock: () => string) {}
      handle() {}
    }
    decorateStandard(Consumer({ queue: 'unbound', message: Cmd, inject: [CLOCK] }), Unbound);
    expect((await startError([Unbound])).message).toBe(
      '@Consumer on Unbound: constructor parameter 0 (Symbol(clock)) is not bound in the container',
    );
  });

  it('prepares a periodic worker the same way', async () => {
    class Report {
      constructor(readonly gateway: Gateway) {}
      run() {}
    }
    decorateStandard(PeriodicWorker({ intervalMs: 1_000 }), Report);
    expect((await startError([], [Report])).message).toContain(
      '@PeriodicWorker on Report: constructor parameter 0 has no token: standard decorators',
    );
  });
});

describe('constructor injection, experimental decorators', () => {
  it('refuses a parameter with both @inject and the inject option', async () => {
    @Consumer({ queue: 'both', message: Cmd, inject: [Gateway] })
    class Both {
      constructor(@inject(Gateway) readonly gateway: Gateway) {}
      handle() {}
    }
    expect((await startError([Both])).message).toMatch(
      /^@Consumer on Both: constructor parameter 0 has both @inject and option "inject"; keep one/,
    );
  });

  it('injects by design type when emitDecoratorMetadata recorded one, and names an interface-typed parameter', async () => {
    class ByType {
      constructor(readonly gateway: Gateway) {}
      handle() {}
    }
    // What `emitDecoratorMetadata` emits for `constructor(gateway: Gateway)`; vitest's transform emits none.
    Reflect.defineMetadata('design:paramtypes', [Gateway], ByType);
    Consumer({ queue: 'by-type', message: Cmd })(ByType);
    const container = new Container();
    container.bind(Gateway).toSelf();
    const host = await startWith([ByType], container);
    expect(container.get(ByType).gateway).toBeInstanceOf(Gateway);
    await host.stop();

    class ByInterface {
      constructor(
        readonly gateway: Gateway,
        readonly clock: () => string,
      ) {}
      handle() {}
    }
    Reflect.defineMetadata('design:paramtypes', [Gateway, Function], ByInterface);
    Consumer({ queue: 'by-interface', message: Cmd })(ByInterface);
    expect((await startError([ByInterface])).message).toBe(
      '@Consumer on ByInterface: constructor parameter 1 is typed Function in the emitted metadata (an interface, a primitive or a union), which names no binding: give it a token with @inject(Token) or list the dependencies in the decorator\'s "inject" option',
    );
  });
});

describe('dependencies of dependencies', () => {
  class HttpClient {}
  class Api {
    constructor(@inject(HttpClient) readonly http: HttpClient) {}
  }
  class NoTokens {
    constructor(readonly http: HttpClient) {}
  }
  const API = Symbol('api');

  function handlerOf(token: unknown) {
    @Consumer({ queue: `deep-${String(token).length}`, message: Cmd, inject: [token as never] })
    class NeedsApi {
      constructor(readonly api: unknown) {}
      handle() {}
    }
    return NeedsApi;
  }

  async function startFails(bind: (container: Container) => void, handler: HandlerClass<never>) {
    const container = new Container();
    bind(container);
    return startWith([handler], container).then(
      () => {
        throw new Error('start() should have failed');
      },
      (error: unknown) => error as Error,
    );
  }

  it('names the chain to a transitive dependency that is not bound', async () => {
    const error = await startFails((c) => c.bind(Api).toSelf(), handlerOf(Api));
    expect(error.message).toBe(
      '@Consumer on NeedsApi: constructor parameter 0 (Api) -> Api parameter 0 (HttpClient) is not bound in the container',
    );
  });

  it('follows a redirection (toService) to the class behind it', async () => {
    const redirected = await startFails((c) => {
      c.bind(Api).toSelf();
      c.bind(API).toService(Api);
    }, handlerOf(API));
    expect(redirected.message).toBe(
      '@Consumer on NeedsApi: constructor parameter 0 (Symbol(api)) -> Api -> Api parameter 0 (HttpClient) is not bound in the container',
    );
  });

  it('starts when the whole graph resolves, and stops the walk at constants', async () => {
    const container = new Container();
    container.bind(HttpClient).toSelf();
    container.bind(Api).toSelf();
    container.bind(NoTokens).toConstantValue(new NoTokens(new HttpClient()));
    const host = await startWith([handlerOf(Api), handlerOf(NoTokens)], container);
    await host.stop();
  });
});

describe('handler shape', () => {
  it('refuses a decorated class without handle(), and a worker without run()', async () => {
    // The types refuse both classes; plain JavaScript (or a cast) does not.
    class NoHandle {}
    Consumer({ queue: 'no-handle', message: Cmd })(NoHandle as never);
    expect((await startError([NoHandle as never])).message).toBe(
      '@Consumer on NoHandle: the class has no handle(message, context) method',
    );
    class NoRun {}
    PeriodicWorker({ intervalMs: 1_000 })(NoRun as never);
    expect((await startError([], [NoRun as never])).message).toBe(
      '@PeriodicWorker on NoRun: the class has no run(signal) method',
    );
  });
});
