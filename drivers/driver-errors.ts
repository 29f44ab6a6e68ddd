/**
 * Helpers shared by the real and sandbox drivers, so both fail with the same types and the same
 * (bounded) messages: an activity must not be able to tell which implementation it talks to.
 */
import { FAILURE } from '../lib/failures';
import { DriverError, type ExecResult } from './types';

/** Failure messages end up in operation errors and Temporal history: keep them short. */
export const MAX_ERROR_OUTPUT_CHARS = 2000;

/** The last `max` characters of a command's output: the end is where tools print the error. */
export function tail(text: string, max = MAX_ERROR_OUTPUT_CHARS): string {
  const t = text.trim();
  return t.length <= max ? t : `…${t.slice(t.length - max)}`;
}

/** The error `ShellSession.run` throws for a non-zero exit. */
export function commandFailed(command: string, result: ExecResult): DriverError {
  const output = tail(result.stderr) || tail(result.stdout);
  const what = command.length > 200 ? `${command.slice(0, 200)}…` : command;
  return new DriverError(
    FAILURE.commandFailed,
    `command "${what}" exited with ${result.code}${output ? `: ${output}` : ''}`,
    false,
  );
}

/** POSIX single-quoting: everything we interpolate into a remote command goes through this. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=@+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
