import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import { ApiError, ERROR_STATUS } from '../../api/errors';
import { errorBody, toApiError } from '../../api/middleware/error.middleware';

describe('error mapping', () => {
  it("keeps an ApiError with its status and details, in the seed's shape", () => {
    const err = new ApiError('resource_busy', 'node_x is busy with operation op_y.', { operation_id: 'op_y' });
    expect(toApiError(err)).toBe(err);
    expect(err.status).toBe(409);
    expect(errorBody(err, 'req_1')).toEqual({
      error: {
        code: 'resource_busy',
        message: 'node_x is busy with operation op_y.',
        request_id: 'req_1',
        operation_id: 'op_y',
      },
    });
  });

  it('never lets details overwrite code, message or request_id', () => {
    const err = new ApiError('forbidden', 'no', { code: 'x', message: 'y', request_id: 'z' });
    expect(errorBody(err, 'req_2').error).toMatchObject({ code: 'forbidden', message: 'no', request_id: 'req_2' });
  });

  it('maps every code to the HTTP status the spec gives it', () => {
    expect(ERROR_STATUS).toMatchObject({
      validation_error: 400,
      invalid_json: 400,
      unauthorized: 401,
      forbidden: 403,
      node_not_found: 404,
      route_not_found: 404,
      method_not_allowed: 405,
      resource_busy: 409,
      address_in_use: 409,
      idempotency_key_reused: 409,
      idempotency_in_progress: 409,
      payload_too_large: 413,
      unsupported_media_type: 415,
      rate_limited: 429,
      internal_error: 500,
    });
  });

  it('turns ajv validation errors into a 400 naming the field', () => {
    const ajv = new Ajv({ allErrors: false });
    const validate = ajv.compile({
      type: 'object',
      properties: { size: { type: 'integer' } },
      additionalProperties: false,
    });
    validate({ size: 'big' });
    const err = toApiError(new Ajv.ValidationError(validate.errors!));
    expect(err.status).toBe(400);
    expect(err.code).toBe('validation_error');
    expect(err.details.field).toBe('size');
  });

  it('exposes safe http-errors (router 405, Koa 4xx) as their codes', () => {
    const e = Object.assign(new Error('Method Not Allowed'), { status: 405, expose: true });
    expect(toApiError(e).code).toBe('method_not_allowed');
    const tooBig = Object.assign(new Error('request entity too large'), { status: 413, expose: true });
    expect(toApiError(tooBig).code).toBe('payload_too_large');
  });

  it('turns anything else into a 500 that says nothing about internals', () => {
    const secretish = new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2');
    for (const thrown of [
      secretish,
      Object.assign(new Error('boom'), { status: 502, expose: false }),
      'string',
      null,
      { status: 400 },
    ]) {
      const err = toApiError(thrown);
      expect(err.status).toBe(500);
      expect(err.code).toBe('internal_error');
      expect(err.message).not.toMatch(/ECONNREFUSED|hunter2|boom/);
      expect(Object.keys(err.details)).toEqual([]);
    }
  });
});
