/**
 * A publisher-only HTTP entry: `POST /signups` sends SignUpUser and answers 202 once the broker has
 * it (the worker may not be running: the command waits in its queue).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { hasErrorCode, ErrorCodes, type Bus } from '@sluice/core';
import { SignUpUser } from './messages.js';

export function createApi(bus: Bus): Server {
  return createServer(async (request, response) => {
    const reply = (status: number, body: unknown) =>
      response.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
    if (request.url !== '/signups') return reply(404, { error: 'not found' });
    if (request.method !== 'POST') return response.writeHead(405, { allow: 'POST' }).end();
    let body = '';
    for await (const chunk of request) body += String(chunk);
    try {
      const { email } = JSON.parse(body) as { email?: unknown };
      const userId = randomUUID();
      await bus.send(SignUpUser, { userId, email: email as string }, { messageId: userId });
      reply(202, { userId });
    } catch (error) {
      if (error instanceof SyntaxError || hasErrorCode(error, ErrorCodes.VALIDATION_FAILED)) {
        return reply(400, { error: 'send {"email": "<address>"}' });
      }
      reply(500, { error: 'internal error' });
    }
  });
}
