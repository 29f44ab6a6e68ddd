import type { Middleware } from 'koa';
import type { AppState } from '../context';
import { ApiError } from '../errors';

export const DEFAULT_BODY_LIMIT_BYTES = 64 * 1024;
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * A small strict JSON body reader (no body-parser dependency): only `application/json` (or a
 * `+json` type), at most `limitBytes`, valid UTF-8 JSON. Sets ctx.state.body (undefined when the
 * request has no body). Shape is checked later, by the route's schema.
 */
export function jsonBody(limitBytes = DEFAULT_BODY_LIMIT_BYTES): Middleware<AppState> {
  return async (ctx, next) => {
    if (!BODY_METHODS.has(ctx.method)) return next();
    const length = ctx.get('Content-Length');
    const chunked = ctx.get('Transfer-Encoding') !== '';
    if (!chunked && (length === '' || length === '0')) return next();

    const type = (ctx.get('Content-Type').split(';')[0] ?? '').trim().toLowerCase();
    if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
      throw new ApiError('unsupported_media_type', 'Request bodies must be JSON (Content-Type: application/json).');
    }
    if (length !== '' && Number(length) > limitBytes) {
      throw new ApiError('payload_too_large', `Request bodies are limited to ${limitBytes} bytes.`);
    }
    const raw = await readLimited(ctx.req, limitBytes);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw new ApiError('invalid_json', 'The request body is not valid UTF-8.');
    }
    if (text.trim() === '') return next();
    try {
      ctx.state.body = JSON.parse(text) as unknown;
    } catch {
      // Not the parser's message: it quotes the body, which may hold a credential.
      throw new ApiError('invalid_json', 'The request body is not valid JSON.');
    }
    return next();
  };
}

async function readLimited(stream: AsyncIterable<Buffer | string>, limitBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > limitBytes)
      throw new ApiError('payload_too_large', `Request bodies are limited to ${limitBytes} bytes.`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}
