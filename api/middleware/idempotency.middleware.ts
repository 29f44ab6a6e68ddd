import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  IDEMPOTENCY_TTL_HOURS,
  releaseIdempotencyKey,
  type IdempotencyClaim,
} from '../../db/repositories/idempotency.repository';
import { getOperationById } from '../../db/repositories/operations.repository';
import type { ApiDeps, AppState } from '../context';
import { authOf } from '../context';
import { ApiError } from '../errors';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** JSON with object keys sorted, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What makes two requests "the same": method, path and query, environment, and body. */
export function requestFingerprint(method: string, url: string, environment: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${url}\n${environment}\n${body === undefined ? '' : canonicalJson(body)}`)
    .digest('hex');
}

const currentClaim = new AsyncLocalStorage<IdempotencyClaim>();

/**
 * The Idempotency-Key claim of the request being served, if it has one: startOperation binds it to
 * the operation in the operation row's transaction (so every service gets this without threading it).
 */
export function idempotencyClaim(): IdempotencyClaim | undefined {
  return currentClaim.getStore();
}

/**
 * `Idempotency-Key` on POST: the first successful (2xx) response is stored for 24 h and replayed
 * for the same key and the same request; another request under that key is 409
 * `idempotency_key_reused`; a duplicate arriving while the first is still running is 409
 * `idempotency_in_progress`. A request that fails is forgotten, so the client can retry it with the
 * same key. The claim is one atomic statement, so this holds across API processes.
 *
 * A request that created an operation is bound to it (same transaction as the operation row): a
 * retry while that request's answer is missing (lost with a crashed API process, or a 503 whose
 * outcome was unknown) is answered 202 with that operation, and the claim is never taken over.
 * A claim not bound to an operation is taken over by a retry once its API process is no longer seen
 * (NF_API_LIVENESS_MS, see claimIdempotencyKey), so an answer lost with a killed process is not a
 * 409 for IDEMPOTENCY_STALE_CLAIM_SECONDS.
 */
export function idempotency(deps: Pick<ApiDeps, 'db' | 'config' | 'instanceId'>): Middleware<AppState> {
  const holder = deps.instanceId ? { instanceId: deps.instanceId, livenessMs: deps.config.apiLivenessMs } : null;
  return async (ctx, next) => {
    // An empty header is a key too, and not a valid one (1–255 characters, as the document says):
    // `-H "Idempotency-Key: $KEY"` with KEY unset must not be served as if retries were safe.
    const header = ctx.headers['idempotency-key'];
    if (ctx.method !== 'POST' || header === undefined) return next();
    const key = Array.isArray(header) ? header.join(', ') : header;
    if (!KEY_PATTERN.test(key)) {
      throw new ApiError('validation_error', 'Idempotency-Key must be 1 to 255 printable ASCII characters.', {
        field: 'Idempotency-Key',
      });
    }
    const auth = authOf(ctx);
    const fingerprint = requestFingerprint(ctx.method, ctx.url, auth.environment, ctx.state.body);
    const claimId = randomUUID();
    const claim = await claimIdempotencyKey(deps.db, auth.accountId, key, fingerprint, claimId, holder);
    if (claim.outcome !== 'claimed') {
      if (claim.requestHash !== fingerprint) {
        throw new ApiError(
          'idempotency_key_reused',
          `Idempotency-Key was already used for a different request in the last ${IDEMPOTENCY_TTL_HOURS} hours.`,
          { field: 'Idempotency-Key' },
        );
      }
      if (claim.outcome === 'in_progress' && claim.operationId) {
        const op = await getOperationById(deps.db, claim.operationId);
        if (op) {
          ctx.status = 202;
          ctx.body = {
            data: {
              operation_id: op.id,
              status: op.status,
              ...(op.cluster_id ? { cluster_id: op.cluster_id } : {}),
              ...(op.node_id ? { node_id: op.node_id } : {}),
            },
          };
          ctx.set('Idempotent-Replayed', 'true');
          ctx.set('Location', `/v1/operations/${op.id}`);
          return;
        }
      }
      if (claim.outcome === 'in_progress') {
        throw new ApiError(
          'idempotency_in_progress',
          'A request with this Idempotency-Key is still being processed. Retry shortly.',
          {
            field: 'Idempotency-Key',
          },
        );
      }
      ctx.status = claim.status;
      ctx.body = claim.body;
      ctx.set('Idempotent-Replayed', 'true');
      return;
    }

    let succeeded = false;
    try {
      await currentClaim.run({ accountId: auth.accountId, key, claimId }, next);
      succeeded = ctx.status >= 200 && ctx.status < 300;
    } finally {
      if (succeeded) {
        const stored = 'idempotentReplayBody' in ctx.state ? ctx.state.idempotentReplayBody : ctx.body;
        // The work is done: failing the response now would invite a retry that repeats it. An
        // unrecorded claim goes stale and is released after IDEMPOTENCY_STALE_CLAIM_SECONDS (or when
        // this process stops being seen: NF_API_LIVENESS_MS).
        await completeIdempotencyKey(deps.db, auth.accountId, key, ctx.status, stored ?? null, claimId).catch(
          (err: unknown) => ctx.state.logger.warn('idempotency record not saved', { err: String(err) }),
        );
      } else {
        await releaseIdempotencyKey(deps.db, auth.accountId, key, claimId);
      }
    }
  };
}
