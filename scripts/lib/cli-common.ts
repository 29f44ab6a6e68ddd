/**
 * What the admin CLI's commands share (scripts/cli.ts: the database commands; scripts/lib/cli-api.ts:
 * the API commands): output, errors and argument parsing.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in the command line: usage on stderr, exit code 2. */
export class UsageError extends Error {}
/** An expected failure (not found, already exists, no database, an API error): one line on stderr, exit code 1. */
export class CliError extends Error {}

export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Whether stdout is a terminal (live drawing) rather than a pipe or a file (plain lines). */
  tty?: boolean;
  /** The terminal stream to draw on when `tty` (process.stdout). */
  stream?: NodeJS.WriteStream;
}

export const stdio: Io = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  get tty() {
    return process.stdout.isTTY === true;
  },
  stream: process.stdout,
};

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | undefined>;

export function parse(
  args: string[],
  options: Options,
  positionals: number,
): { values: Values; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(
      parsed.positionals.length > positionals
        ? `unexpected argument ${parsed.positionals[positionals]!}`
        : 'missing argument',
    );
  }
  return { values: parsed.values as Values, positionals: parsed.positionals };
}

export function requireString(values: Values, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

/** Columns padded to their widest cell, two spaces apart. */
export function table(io: Io, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  io.out(line(header));
  for (const r of rows) io.out(line(r));
}
