/**
 * How a decorated class gets its constructor arguments, in either TypeScript decorator mode, and the
 * start-up check that every one of them can be resolved. Per parameter, the first that applies wins:
 *
 * 1. the decorator's `inject: [TokenA, TokenB]` option (the way under standard decorators, which have
 *    no parameter decorators; it must list every parameter);
 * 2. an explicit `@inject(Token)` parameter decorator (`experimentalDecorators`);
 * 3. the parameter's class, from the `design:paramtypes` metadata that `emitDecoratorMetadata` emits
 *    (inversify loads the `reflect-metadata` API): injection by type, as in NestJS. An interface or a
 *    primitive is emitted as `Object` / `String` / ..., which names no binding: it needs a token.
 *
 * Tokens from 1 and 3 are written as inversify's own constructor metadata (what `@inject` writes), so
 * `container.get(Class)` works for the application too.
 */
import {
  bindingTypeValues,
  ClassElementMetadataKind,
  getClassMetadata,
  type Binding,
  type BindingService,
  type InstanceBinding,
  type ServiceRedirectionBinding,
} from '@inversifyjs/core';
import { Plugin, type PluginContext } from '@inversifyjs/plugin';
import { inject, type Container, type ServiceIdentifier } from 'inversify';
import { ErrorCodes, SluiceError, toError } from './errors.js';

/** Which decorator semantics applied a class decorator; detected from its arguments at run time. */
export type DecoratorMode = 'standard' | 'legacy';

/** What a class decorator records about constructor injection. */
export interface InjectionRecord {
  readonly mode: DecoratorMode;
  /** The decorator's `inject` option, when given. */
  readonly inject: readonly unknown[] | undefined;
}

type AnyClass = abstract new (...args: never[]) => unknown;

/**
 * The mode of a class decorator call: TypeScript's standard decorators pass a context object with
 * `kind: 'class'`; `experimentalDecorators` (and Babel's legacy plugin) pass the class alone.
 */
export function decoratorModeOf(context: unknown): DecoratorMode {
  return typeof context === 'object' && context !== null && (context as { kind?: unknown }).kind === 'class'
    ? 'standard'
    : 'legacy';
}

/** Types `emitDecoratorMetadata` emits for what is not a class: interfaces, primitives, unions, ... */
const notInjectableByType: ReadonlySet<unknown> = new Set([
  Object,
  String,
  Number,
  Boolean,
  BigInt,
  Symbol,
  Array,
  Function,
  Promise,
  undefined,
]);

/** Inversify's constructor metadata of `cls` as written so far; internal to inversify, read only. */
function writtenConstructorArguments(cls: AnyClass): readonly unknown[] {
  const reflect = Reflect as unknown as {
    getOwnMetadata?: (key: string, target: object) => { constructorArguments?: unknown[] } | undefined;
  };
  return (
    reflect.getOwnMetadata?.('@inversifyjs/core/classMetadataReflectKey', cls)?.constructorArguments ?? []
  );
}

function designParameterTypes(cls: AnyClass): readonly unknown[] | undefined {
  const reflect = Reflect as unknown as {
    getOwnMetadata?: (key: string, target: object) => unknown;
  };
  const types = reflect.getOwnMetadata?.('design:paramtypes', cls);
  return Array.isArray(types) ? types : undefined;
}

function typeName(type: unknown): string {
  return typeof type === 'function' ? type.name || 'anonymous' : String(type);
}

function tokenName(token: unknown): string {
  if (typeof token === 'function') return token.name || 'anonymous class';
  if (typeof token === 'symbol') return token.toString();
  return JSON.stringify(token) ?? String(token);
}

function isToken(value: unknown): value is ServiceIdentifier {
  return typeof value === 'function' || typeof value === 'symbol' || typeof value === 'string';
}

const prepared = new WeakSet<object>();

/**
 * Writes the constructor tokens of `cls` that come from its decorator's `inject` option or from its
 * design types (once per class), then checks that every parameter has a token bound in `container`.
 * Throws `SLUICE_INVALID_OPTION` naming `where` (such as `@Consumer on ChargeCard`), the parameter's
 * position and what to do.
 */
export function prepareConstructorInjection(
  cls: AnyClass,
  record: InjectionRecord,
  where: string,
  container: Container,
): void {
  const fail = (message: string, cause?: unknown): never => {
    throw new SluiceError(ErrorCodes.INVALID_OPTION, `${where}: ${message}`, { cause });
  };
  if (!prepared.has(cls)) {
    writeTokens(cls, record, fail);
    prepared.add(cls);
  }
  let metadata: ClassMetadata;
  try {
    metadata = getClassMetadata(cls as never);
  } catch (error) {
    return fail(describeMissingToken(cls, record), error);
  }
  checkArguments(metadata, 'constructor parameter', bindingReader(container), new Set([cls]), fail);
}

type ClassMetadata = ReturnType<typeof getClassMetadata>;
type BindingsOf = (token: unknown) => readonly Binding<unknown>[];

/**
 * Checks that every parameter's token is bound and, through class bindings (`to(Class)`,
 * `toSelf()`) and redirections, that every dependency of a dependency is too; constants, factories
 * and dynamic values end the walk. `path` names the parameter for the message, such as
 * `constructor parameter 0 (Gateway) -> Gateway parameter 1 (HttpClient)`.
 */
function checkArguments(
  metadata: ClassMetadata,
  path: string,
  bindingsOf: BindingsOf,
  seen: Set<unknown>,
  fail: (message: string, cause?: unknown) => never,
  owner?: string,
): void {
  metadata.constructorArguments.forEach((argument, index) => {
    if (argument.kind === ClassElementMetadataKind.unmanaged) return;
    const here = `${owner === undefined ? path : `${path} -> ${owner} parameter`} ${index} (${tokenName(argument.value)})`;
    checkToken(argument.value, argument.optional, here, bindingsOf, seen, fail);
  });
}

function checkToken(
  token: unknown,
  optional: boolean,
  here: string,
  bindingsOf: BindingsOf,
  seen: Set<unknown>,
  fail: (message: string, cause?: unknown) => never,
): void {
  const bindings = bindingsOf(token);
  if (bindings.length === 0) {
    if (optional) return;
    fail(`${here} is not bound in the container`);
  }
  for (const binding of bindings) {
    if (binding.type === bindingTypeValues.ServiceRedirection) {
      const target = (binding as ServiceRedirectionBinding<unknown>).targetServiceIdentifier;
      checkToken(target, false, `${here} -> ${tokenName(target)}`, bindingsOf, seen, fail);
    } else if (binding.type === bindingTypeValues.Instance) {
      const implementation = (binding as InstanceBinding<unknown>).implementationType as AnyClass;
      if (seen.has(implementation)) continue;
      seen.add(implementation);
      let metadata: ClassMetadata;
      try {
        // Inversify checked it when the class was bound; metadata changed since is still caught.
        metadata = getClassMetadata(implementation as never);
      } catch (error) {
        return fail(
          `${here} is bound to ${typeName(implementation)}, which cannot be constructed: ${toError(error).message.split('\n')[0]}`,
          error,
        );
      }
      checkArguments(metadata, here, bindingsOf, seen, fail, typeName(implementation));
    }
  }
}

const bindingServices = new WeakMap<object, BindingService>();

/** Inversify shows a container's bindings to plugins only: this one keeps them for the check. */
class BindingReader extends Plugin<Container> {
  constructor(container: Container, context: PluginContext) {
    super(container, context);
    bindingServices.set(container, context.bindingService);
  }

  load(): void {}
}

/** The bindings of a token in `container` and its parents. */
function bindingReader(container: Container): BindingsOf {
  if (!bindingServices.has(container)) {
    try {
      container.register(BindingReader);
    } catch {
      // Another inversify whose plugin API differs: the check below stays on direct bindings.
    }
  }
  const service = bindingServices.get(container);
  if (service === undefined) {
    // Not an inversify container the plugin API works on: check direct bindings only.
    return (token) => (container.isBound(token as never) ? ([{ type: 'ConstantValue' }] as never) : []);
  }
  return (token) => [...service.getChained(token as never)];
}

function writeTokens(
  cls: AnyClass,
  record: InjectionRecord,
  fail: (message: string, cause?: unknown) => never,
) {
  const { inject: tokens } = record;
  if (tokens !== undefined) {
    if (!Array.isArray(tokens))
      return fail(`option "inject" must be an array of tokens (got ${typeof tokens})`);
    if (tokens.length !== cls.length) {
      fail(
        `option "inject" lists ${tokens.length} token(s) but the constructor takes ${cls.length} parameter(s); list one per parameter, in order`,
      );
    }
    tokens.forEach((token: unknown, index) => {
      if (!isToken(token)) {
        fail(
          `option "inject" at position ${index} must be a class, a symbol or a string (got ${tokenName(token)})`,
        );
      }
      try {
        inject(token)(cls, undefined, index);
      } catch (error) {
        fail(
          `constructor parameter ${index} has both @inject and option "inject"; keep one (${toError(error).message.split('\n')[0]})`,
          error,
        );
      }
    });
    return;
  }
  const written = writtenConstructorArguments(cls);
  designParameterTypes(cls)?.forEach((type, index) => {
    if (written[index] !== undefined || notInjectableByType.has(type) || typeof type !== 'function') return;
    inject(type as ServiceIdentifier)(cls, undefined, index);
  });
}

function describeMissingToken(cls: AnyClass, record: InjectionRecord): string {
  const written = writtenConstructorArguments(cls);
  let index = 0;
  while (index < cls.length && written[index] !== undefined) index++;
  const parameter = `constructor parameter ${index}`;
  if (record.mode === 'standard') {
    return `${parameter} has no token: standard decorators have no parameter decorators, so list the constructor's dependencies in order in the decorator's "inject" option (inject: [Token, ...])`;
  }
  const types = designParameterTypes(cls);
  if (types !== undefined) {
    return `${parameter} is typed ${typeName(types[index])} in the emitted metadata (an interface, a primitive or a union), which names no binding: give it a token with @inject(Token) or list the dependencies in the decorator's "inject" option`;
  }
  return `${parameter} has no token: add @inject(Token) to it, list the dependencies in the decorator's "inject" option, or compile with "emitDecoratorMetadata" to inject classes by type`;
}
