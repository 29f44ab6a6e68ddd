/**
 * The typed API client: openapi-fetch over the types generated from the API's own OpenAPI document
 * (lib/client/openapi.ts, `npm run gen:client`). Paths, parameters, bodies and answers are checked
 * by the compiler against the document, so a document that drifts from the server fails the API
 * tests that use this client, and one that drifts from the code using it fails the type check.
 *
 *   const api = createApiClient({ baseUrl: 'http://127.0.0.1:8080', key: process.env.NF_API_KEY });
 *   const { data, error, response } = await api.GET('/v1/operations/{id}', { params: { path: { id } } });
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './openapi';

export type { components, operations, paths } from './openapi';

export type ApiClient = Client<paths>;
/** A named schema of the document, e.g. `Schema<'Operation'>`. */
export type Schema<Name extends keyof components['schemas']> = components['schemas'][Name];
/** The API's error body (`{ error: { code, message, … } }`). */
export type ApiErrorBody = Schema<'Error'>;

export interface ApiClientOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:8080` (no `/v1`). */
  baseUrl: string;
  /** An API key (`nf_sk_…`), sent as `Authorization: Bearer`. */
  key?: string | undefined;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  return createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    headers: { ...options.headers, ...(options.key ? { authorization: `Bearer ${options.key}` } : {}) },
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}

/** Whether a value is the API's error body. */
export function isApiError(body: unknown): body is ApiErrorBody {
  const error = (body as { error?: unknown } | null)?.error as { code?: unknown; message?: unknown } | undefined;
  return typeof error?.code === 'string' && typeof error.message === 'string';
}
