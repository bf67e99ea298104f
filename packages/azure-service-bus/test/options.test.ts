import { createRequire } from 'node:module';
import { AzureServiceBusTransport } from '@sluice/azure-service-bus';
import { ErrorCodes } from '@sluice/core';
import { describe, expect, it } from 'vitest';

const key = 'c2VjcmV0LWtleS12YWx1ZS10aGF0LW11c3Qtbm90LWxlYWs=';
const good = `Endpoint=sb://my-ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${key}`;

function refusal(options: ConstructorParameters<typeof AzureServiceBusTransport>[0]): Error {
  try {
    new AzureServiceBusTransport(options);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the options to be refused');
}

describe('AzureServiceBusTransport options', () => {
  it.each([
    [
      { connectionString: good.replace('sb://', 'https://') },
      'connectionString',
      'must start Endpoint=sb://',
    ],
    [
      { connectionString: good.replace(/;SharedAccessKeyName=[^;]*/, '') },
      'connectionString',
      'SharedAccessKeyName',
    ],
    [{ connectionString: `${good};EntityPath=payments` }, 'connectionString', 'no EntityPath'],
    [{ connectionString: good, lockDurationMs: 50 }, 'lockDurationMs', 'must be an integer from 100'],
    [{ connectionString: good, retry: { delayMs: -1 } }, 'retry.delayMs', ''],
    [{ connectionString: good, reconnect: { factor: 0 } }, 'reconnect.factor', ''],
    [{ connectionString: good, provision: 'yes' as never }, 'provision', ''],
    [{ connectionString: good, tlsCa: 'not a certificate' }, 'tlsCa', 'PEM'],
    [{ connectionString: good, namespace: 'my-ns.servicebus.windows.net' }, 'connectionString', 'not both'],
    [{ namespace: 'not a host!' }, 'namespace', 'fully qualified'],
    [
      { connectionString: good, credential: { getToken: async () => null } },
      'credential',
      'goes with namespace',
    ],
    [
      { namespace: 'my-ns.servicebus.windows.net', credential: key as never },
      'credential',
      'TokenCredential',
    ],
    [
      { namespace: 'my-ns.servicebus.windows.net', credential: { key } as never },
      'credential',
      'NamedKeyCredential (name, key)',
    ],
    [{ connectionString: good, lockDuration: 5 } as never, 'lockDuration', 'not a known option'],
  ])('refuses %j naming %s, never showing the key', (options, option, requirement) => {
    const error = refusal(options);
    expect(error).toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    expect(error.message).toContain(`option "${option}"`);
    expect(error.message).toContain(requirement);
    expect(error.message).not.toContain(key);
  });

  it('describes the namespace for telemetry without its key', () => {
    const transport = new AzureServiceBusTransport({ connectionString: good });
    expect([transport.telemetry.serverAddress, transport.telemetry.serverPort]).toEqual([
      'my-ns.servicebus.windows.net',
      5671,
    ]);
    expect(JSON.stringify(transport)).not.toContain(key);
  });

  it('says at connect that a namespace without a credential needs @azure/identity, when it is missing', async ({
    skip,
  }) => {
    try {
      createRequire(import.meta.url).resolve('@azure/identity');
      return skip('@azure/identity is installed: DefaultAzureCredential would sign in');
    } catch {
      // not installed: the case under test
    }
    const transport = new AzureServiceBusTransport({ namespace: 'my-ns.servicebus.windows.net' });
    await expect(transport.connect()).rejects.toMatchObject({
      code: ErrorCodes.INVALID_OPTION,
      message: expect.stringContaining('npm install @azure/identity'),
    });
    await transport.close();
  });
});
