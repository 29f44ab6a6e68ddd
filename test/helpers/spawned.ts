import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/**
 * Polls `probe` every `intervalMs` until it answers a value (anything but undefined), for at most
 * `timeoutMs`; a probe that throws ends the wait with its error.
 */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => T | undefined | Promise<T | undefined>,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A child process whose stdout and stderr are collected in `out`; `exitCode` is set when it exits (128 for a signal). */
export interface Spawned {
  child: ChildProcess;
  out: string;
  exitCode: number | null | undefined;
}

export function spawnCollecting(command: string, args: string[], options: Omit<SpawnOptions, 'stdio'>): Spawned {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Spawned = { child, out: '', exitCode: undefined };
  child.stdout!.on('data', (b: Buffer) => (p.out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (p.out += b.toString()));
  child.once('exit', (code, signal) => (p.exitCode = code ?? (signal ? 128 : null)));
  return p;
}

/** Waits until `find` finds something in the process's output; fails at once, with the output's tail, if it exits first. */
export function waitForOutput<T>(
  p: Spawned,
  what: string,
  timeoutMs: number,
  find: (out: string) => T | undefined,
  intervalMs = 200,
): Promise<T> {
  return waitFor(
    what,
    timeoutMs,
    () => {
      if (p.exitCode !== undefined)
        throw new Error(`${what}: the process exited (${p.exitCode}) first: ${p.out.slice(-2000)}`);
      return find(p.out);
    },
    intervalMs,
  );
}
