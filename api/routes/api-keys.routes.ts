import type { ApiKey } from '../../db/database';
import { createApiKey, getApiKey, listApiKeys, revokeApiKey } from '../../db/repositories/api-keys.repository';
import { completeIdempotencyKey } from '../../db/repositories/idempotency.repository';
import { idPattern, isId } from '../../lib/ids';
import { KEY_KINDS, type KeyKind } from '../../lib/secrets';
import { authOf, type ApiDeps, type AuthState } from '../context';
import { ApiError } from '../errors';
import { idempotencyClaim } from '../middleware/idempotency.middleware';
import { apiKeyViewSchema, createApiKeyBodySchema, createdApiKeyResponseSchema } from '../schemas/api-keys.schemas';
import {
  emptyQuerySchema,
  limitOffset,
  listBody,
  listResponseSchema,
  pageQuerySchema,
} from '../schemas/common.schemas';
import { bodyValidator, parse, queryValidator } from '../schemas/validation';
import type { RouteTable } from './route-table';

const validCreate = bodyValidator(createApiKeyBodySchema);

/** A replay must not show the secret again, so it is never stored with the idempotency record. */
function replayBody(apiKey: ApiKey): unknown {
  return { data: { ...apiKeyView(apiKey), key: null } };
}
const validList = queryValidator(pageQuerySchema);
const validNoQuery = queryValidator(emptyQuerySchema);

export interface ApiKeyView {
  id: string;
  kind: KeyKind;
  name: string | null;
  hint: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export function apiKeyView(k: ApiKey): ApiKeyView {
  return {
    id: k.id,
    kind: k.kind,
    name: k.name,
    hint: k.hint,
    created_at: k.created_at.toISOString(),
    last_used_at: k.last_used_at?.toISOString() ?? null,
    revoked_at: k.revoked_at?.toISOString() ?? null,
  };
}

/**
 * Which keys a key can see and manage. A sandbox key is the one most likely to sit in a CI config
 * or a laptop, so it reaches sandbox keys only: it can neither list, mint nor revoke live keys.
 * Live keys manage every key of the account. Read-only keys list (GET is all they may do).
 */
export function manageableKinds(auth: AuthState): readonly KeyKind[] {
  return auth.keyKind === 'test' ? ['test'] : KEY_KINDS;
}

export function addApiKeyRoutes(table: RouteTable, deps: ApiDeps): void {
  table.add(
    {
      method: 'get',
      path: '/v1/api_keys',
      operationId: 'listApiKeys',
      summary: 'List API keys',
      description: 'Never shows secrets. A sandbox (nf_sk_test_) key sees only sandbox keys.',
      tag: 'API keys',
      auth: true,
      query: pageQuerySchema,
      responses: {
        200: { description: 'A page of keys, newest first.', schema: listResponseSchema(apiKeyViewSchema) },
      },
    },
    async (ctx) => {
      const q = parse(validList, { ...ctx.query }, 'query');
      const auth = authOf(ctx);
      const { rows, total } = await listApiKeys(
        deps.db,
        auth.accountId,
        { kinds: manageableKinds(auth) },
        limitOffset(q),
      );
      ctx.body = listBody(rows.map(apiKeyView), total, q);
    },
  );

  table.add(
    {
      method: 'post',
      path: '/v1/api_keys',
      operationId: 'createApiKey',
      summary: 'Create an API key',
      description:
        'The secret is in this response only (it is stored hashed). A sandbox key may create sandbox keys only (403 otherwise).',
      tag: 'API keys',
      auth: true,
      body: createApiKeyBodySchema,
      responses: {
        201: { description: 'Created; `key` is the secret, shown once.', schema: createdApiKeyResponseSchema },
      },
    },
    async (ctx) => {
      const body = parse(validCreate, ctx.state.body, 'body');
      parse(validNoQuery, { ...ctx.query }, 'query');
      const auth = authOf(ctx);
      if (!manageableKinds(auth).includes(body.kind)) {
        throw new ApiError('forbidden', `A ${auth.keyKind} key cannot create ${body.kind} keys.`, { field: 'kind' });
      }
      const claim = idempotencyClaim();
      const { apiKey, secret } = await deps.db.transaction().execute(async (trx) => {
        const created = await createApiKey(trx, {
          accountId: auth.accountId,
          kind: body.kind,
          name: body.name ?? null,
        });
        // The key and its Idempotency-Key answer commit together: a retry after a lost answer
        // replays it, and a request whose claim was taken over (its process stalled past
        // NF_API_LIVENESS_MS) creates nothing.
        if (
          claim &&
          !(await completeIdempotencyKey(
            trx,
            claim.accountId,
            claim.key,
            201,
            replayBody(created.apiKey),
            claim.claimId,
          ))
        ) {
          throw new ApiError(
            'idempotency_in_progress',
            "This request's Idempotency-Key was taken over by a later request with the same key; nothing was changed.",
            {
              field: 'Idempotency-Key',
            },
          );
        }
        return created;
      });
      ctx.status = 201;
      ctx.body = { data: { ...apiKeyView(apiKey), key: secret } };
      ctx.state.idempotentReplayBody = replayBody(apiKey);
    },
  );

  table.add(
    {
      method: 'delete',
      path: '/v1/api_keys/{id}',
      operationId: 'revokeApiKey',
      summary: 'Revoke an API key',
      description: 'Takes effect at once. Revoking a revoked key is a no-op. A key may revoke itself.',
      tag: 'API keys',
      auth: true,
      pathParams: [{ name: 'id', pattern: idPattern('key'), description: 'Key id (key_…).' }],
      responses: { 204: { description: 'Revoked.' } },
    },
    async (ctx) => {
      parse(validNoQuery, { ...ctx.query }, 'query');
      const auth = authOf(ctx);
      const id = ctx.params.id ?? '';
      const key = isId('key', id) ? await getApiKey(deps.db, auth.accountId, id) : undefined;
      if (!key || !manageableKinds(auth).includes(key.kind)) {
        throw new ApiError('api_key_not_found', `No API key with ID ${id} exists in this account.`);
      }
      await revokeApiKey(deps.db, auth.accountId, id);
      ctx.status = 204;
    },
  );
}
