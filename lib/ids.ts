import { randomFillSync } from 'node:crypto';

/** Crockford base32, lowercase: ids sort by creation time as strings and read well in logs and URLs. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export const ID_PREFIXES = {
  account: 'acct',
  cluster: 'clus',
  node: 'node',
  pool: 'pool',
  operation: 'op',
  key: 'key',
  webhook: 'wh',
  event: 'evt',
  delivery: 'whd',
  request: 'req',
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

let lastTime = 0;
let lastRandom: number[] = [];

/** 10 time characters (ms) + 16 random characters, monotonic within one process. */
export function ulidBody(now = Date.now()): string {
  let rand: number[];
  if (now === lastTime) {
    rand = increment(lastRandom);
  } else {
    rand = randomDigits();
  }
  lastTime = now;
  lastRandom = rand;
  let t = now;
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return time + rand.map((d) => ALPHABET[d]).join('');
}

/** Random bytes drawn 4 KiB at a time (not one crypto call per id, issue 14), 16 per id. */
const RANDOM_POOL = Buffer.alloc(4096);
let randomOffset = RANDOM_POOL.length;

function randomDigits(): number[] {
  if (randomOffset + 16 > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomOffset = 0;
  }
  const out = new Array<number>(16);
  for (let i = 0; i < 16; i++) out[i] = RANDOM_POOL[randomOffset + i]! % 32;
  randomOffset += 16;
  return out;
}

function increment(digits: number[]): number[] {
  const out = digits.slice();
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 31) {
      out[i]! += 1;
      return out;
    }
    out[i] = 0;
  }
  return out;
}

export function newId(kind: IdKind): string {
  return `${ID_PREFIXES[kind]}_${ulidBody()}`;
}

const ID_BODY = '[0-9a-hjkmnp-tv-z]{26}';

/** Pattern (for JSON Schema) of a well-formed id of the given kind. */
export function idPattern(kind: IdKind): string {
  return `^${ID_PREFIXES[kind]}_${ID_BODY}$`;
}

/** Each kind's pattern, compiled once (issue 14: compiling it on every call showed in the API's profile). */
const ID_REGEXES = new Map<IdKind, RegExp>();

export function isId(kind: IdKind, value: string): boolean {
  let re = ID_REGEXES.get(kind);
  if (!re) ID_REGEXES.set(kind, (re = new RegExp(idPattern(kind))));
  return re.test(value);
}
