import { isIP } from 'node:net';
import Ajv, { type ErrorObject, type JSONSchemaType, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { ApiError } from '../errors';

/**
 * Validation at the edge (STYLE 10). Two Ajv instances, each compiling a schema once at module load:
 * bodies are JSON and never coerced; query strings are text, so their numbers and booleans are
 * coerced. Both fill defaults, so a validated value has the type the schema describes.
 */
function configure(ajv: Ajv): Ajv {
  addFormats(ajv, ['date-time', 'uri', 'hostname']);
  // One format for "an IP address", IPv4 or IPv6, instead of an anyOf whose errors name neither.
  // Zone ids ("fe80::1%eth0") name an interface of this host, not a machine: rejected.
  ajv.addFormat('ip', { type: 'string', validate: (s: string) => isIP(s) !== 0 && !s.includes('%') });
  return ajv;
}

const bodyAjv = configure(new Ajv({ strict: true, allErrors: false, useDefaults: true, coerceTypes: false }));
const queryAjv = configure(new Ajv({ strict: true, allErrors: false, useDefaults: true, coerceTypes: true }));

const MAPPED_V4 = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/**
 * One spelling per address, so "2001:DB8::1" and "2001:db8:0::1" cannot register one machine twice:
 * IPv6 lowercase and compressed, and an IPv4-mapped IPv6 address (::ffff:10.0.0.5, the same machine
 * as 10.0.0.5) folded to its IPv4 address.
 */
export function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const v6 = new URL(`http://[${ip}]`).hostname.slice(1, -1);
  const m = MAPPED_V4.exec(v6);
  if (!m) return v6;
  const hi = parseInt(m[1]!, 16);
  const lo = parseInt(m[2]!, 16);
  return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
}

export type Validator<T> = ValidateFunction<T>;

/**
 * A copy of `schema` where every `nullable: true` enum also lists null. Ajv's `nullable` widens the
 * type but not an enum, so `{type: 'string', enum: [...], nullable: true}` refused the null the
 * OpenAPI document (toOpenApiSchema: `null` joins the enum) allows: a body's optional enum field
 * sent as null, which means "not given" like any other optional field (docs/api.md#validation).
 */
export function nullInNullableEnums(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(nullInNullableEnums);
  if (!schema || typeof schema !== 'object') return schema;
  const src = schema as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(src)) {
    out[k] = k === 'enum' || k === 'default' || k === 'const' || k === 'examples' ? v : nullInNullableEnums(v);
  }
  if (src.nullable === true && Array.isArray(src.enum) && !src.enum.includes(null)) out.enum = [...src.enum, null];
  return out;
}

export function bodyValidator<T>(schema: JSONSchemaType<T>): Validator<T> {
  return bodyAjv.compile(nullInNullableEnums(schema) as JSONSchemaType<T>);
}

export function queryValidator<T>(schema: JSONSchemaType<T>): Validator<T> {
  return queryAjv.compile(schema);
}

export type Location = 'body' | 'query';

/**
 * Control characters no string of the API may carry: NUL (PostgreSQL text cannot hold it, so it
 * would reach the database as an error) and the other C0 controls and DEL (they forge log lines and
 * terminal output). Tab, line feed and carriage return stay allowed: private keys are multi-line.
 */
const FORBIDDEN_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

export function hasControlCharacter(s: string): boolean {
  return FORBIDDEN_CONTROL.test(s);
}

/** The path (dotted, [i] for items) of the first string, or object key, holding a forbidden control character. */
export function controlCharacterPath(value: unknown, path: string[] = []): string[] | null {
  if (typeof value === 'string') return hasControlCharacter(value) ? path : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = controlCharacterPath(value[i], [...path, String(i)]);
      if (p) return p;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (hasControlCharacter(k)) return [...path, k.replace(FORBIDDEN_CONTROL, '?')];
      const p = controlCharacterPath(v, [...path, k]);
      if (p) return p;
    }
  }
  return null;
}

function dotted(path: string[]): string | null {
  return path.length === 0
    ? null
    : path.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : `${i === 0 ? '' : '.'}${p}`)).join('');
}

/**
 * Validates (and fills defaults into) `data`; throws a 400 `validation_error` naming the field.
 * Every string of every body and query string first passes the one shared check: no control
 * characters (see FORBIDDEN_CONTROL), whatever the schema says.
 */
export function parse<T>(validate: Validator<T>, data: unknown, location: Location): T {
  const bad = controlCharacterPath(data);
  if (bad) {
    const field = dotted(bad);
    throw new ApiError(
      'validation_error',
      `${field ?? location} must not contain control characters.`,
      field === null ? {} : { field },
    );
  }
  if (validate(data)) return data;
  throw validationError(validate.errors ?? [], location);
}

const FORMAT_NAMES: Record<string, string> = {
  ip: 'an IPv4 or IPv6 address',
  hostname: 'a hostname (letters, digits, hyphens and dots)',
  'date-time': 'an RFC 3339 date-time',
  uri: 'a URI',
};

/** The first ajv error as the API's 400: `field` names the offending property (dotted path). */
export function validationError(errors: readonly ErrorObject[], location: Location): ApiError {
  const e = errors[0];
  const noun = location === 'query' ? 'query parameter' : 'field';
  if (!e) return new ApiError('validation_error', `Invalid ${location === 'query' ? 'query string' : 'request body'}.`);
  const path = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const at = (extra?: string): string | null => {
    const parts = extra === undefined ? path : [...path, extra];
    return parts.length === 0
      ? null
      : parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : `${i === 0 ? '' : '.'}${p}`)).join('');
  };
  let field: string | null;
  let message: string;
  switch (e.keyword) {
    case 'required':
      field = at(String(e.params.missingProperty));
      message = `${field} is required.`;
      break;
    case 'additionalProperties':
      field = at(String(e.params.additionalProperty));
      message = `Unknown ${noun}: ${field}.`;
      break;
    case 'enum':
      field = at();
      message = `${field ?? location} must be one of: ${(e.params.allowedValues as unknown[])
        .filter((v) => v !== null)
        .map((v) => String(v))
        .join(', ')}.`;
      break;
    case 'format':
      field = at();
      message = `${field ?? location} must be ${FORMAT_NAMES[String(e.params.format)] ?? `in format ${String(e.params.format)}`}.`;
      break;
    case 'type':
      field = at();
      message =
        field === null
          ? location === 'body'
            ? 'The request body must be a JSON object.'
            : 'Invalid query string.'
          : `${field} must be of type ${Array.isArray(e.params.type) ? e.params.type.join(' or ') : String(e.params.type)}.`;
      break;
    case 'not':
      // `{not: {}}` marks a property that must be absent in this shape of the body (a node's BMC:
      // the ipmi_* fields or `bmc`, never both).
      field = at();
      message = `${field ?? location} cannot be given here: a node's BMC is either \`bmc\` or the ipmi_* fields, not both.`;
      break;
    default:
      field = at();
      message = `${field ?? location} ${e.message ?? 'is invalid'}.`;
  }
  return new ApiError('validation_error', message, field === null ? {} : { field });
}
