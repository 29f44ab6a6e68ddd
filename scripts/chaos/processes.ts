/**
 * The three processes of a chaos run, each a separate OS process like in production: the Temporal
 * CLI dev server (SQLite file in the run's directory, so its state survives a SIGKILL), the worker
 * (worker/main.ts) and the API (api/main.ts). Kills are SIGKILL; every dead period is recorded, so
 * the invariants can tell "the API was dead" from "the API answered 5xx". A worker or API that exits
 * on its own is restarted (as systemd would) and counted as a crash.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../lib/paths';
import { startTemporalDevServer, type TemporalDevServer } from '../lib/temporal-dev-server';
import type { ProcessName } from './plan';

export interface Downtime {
  process: ProcessName;
  /** ms since the epoch; `to` is null while still down. */
  from: number;
  to: number | null;
  cause: 'kill' | 'crash';
}

export interface ProcessOptions {
  dir: string;
  temporalBin: string;
  temporalPort: number;
  temporalUiPort: number;
  apiPort: number;
  /** The application's environment (lib/config.ts), shared by the worker and the API. */
  env: Record<string, string>;
  log: (line: string) => void;
}

const READY_TIMEOUT_MS = 90_000;

/**
 * The environment of the worker and the API: this process's (without vitest's), then the run's
 * application environment (which wins), then the API's address.
 */
export function childEnv(
  base: NodeJS.ProcessEnv,
  appEnv: Record<string, string>,
  apiPort: number,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base))
    if (v !== undefined && !k.startsWith('VITEST') && k !== 'NODE_OPTIONS') env[k] = v;
  return Object.assign(env, appEnv, { PORT: String(apiPort), NF_HOST: '127.0.0.1' });
}

export class Processes {
  readonly downtimes: Downtime[] = [];
  readonly kills: Record<ProcessName, number> = { worker: 0, api: 0, temporal: 0 };
  readonly crashes: Record<ProcessName, number> = { worker: 0, api: 0, temporal: 0 };
  private temporal: TemporalDevServer | undefined;
  private children: Partial<Record<'worker' | 'api', ChildProcess>> = {};
  private logs: Partial<Record<ProcessName, WriteStream>> = {};
  private stopping = false;
  private readonly killAll = () => {
    for (const c of Object.values(this.children)) c?.kill('SIGKILL');
    this.temporal?.killNow();
  };

  constructor(private readonly o: ProcessOptions) {
    process.once('exit', this.killAll);
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.o.apiPort}`;
  }

  get temporalAddress(): string {
    return `127.0.0.1:${this.o.temporalPort}`;
  }

  isUp(name: ProcessName): boolean {
    return (
      !this.downtimes.some((d) => d.process === name && d.to === null) &&
      (name === 'temporal' ? !!this.temporal : !!this.children[name])
    );
  }

  async startAll(): Promise<void> {
    await this.start('temporal');
    await Promise.all([this.start('worker'), this.start('api')]);
  }

  /** SIGKILL now; the dead period lasts until `start` reports it ready again. */
  kill(name: ProcessName): void {
    this.kills[name] += 1;
    this.downtimes.push({ process: name, from: Date.now(), to: null, cause: 'kill' });
    this.o.log(`SIGKILL ${name}`);
    if (name === 'temporal') {
      this.temporal?.killNow();
      this.temporal = undefined;
    } else {
      const child = this.children[name];
      delete this.children[name];
      child?.kill('SIGKILL');
    }
  }

  async start(name: ProcessName): Promise<void> {
    const t0 = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        if (name === 'temporal') this.temporal = await this.startTemporal();
        else await this.spawnNode(name);
        break;
      } catch (e) {
        if (attempt >= 3 || this.stopping) throw e;
        this.o.log(`starting ${name} failed (${(e as Error).message.split('\n')[0]}): trying again`);
        await new Promise((r) => setTimeout(r, 2_000));
      }
    }
    const open = this.downtimes.find((d) => d.process === name && d.to === null);
    if (open) open.to = Date.now();
    this.o.log(`${name} ready (${Date.now() - t0} ms)`);
  }

  /** The dev server on the same ports and SQLite file. */
  private startTemporal(): Promise<TemporalDevServer> {
    return startTemporalDevServer({
      bin: this.o.temporalBin,
      dbFile: path.join(this.o.dir, 'temporal.db'),
      logFile: path.join(this.o.dir, 'temporal.log'),
      pidFile: path.join(this.o.dir, 'temporal.pid'),
      ip: '127.0.0.1',
      port: this.o.temporalPort,
      uiPort: this.o.temporalUiPort,
      readyTimeoutMs: READY_TIMEOUT_MS,
    });
  }

  private async spawnNode(name: 'worker' | 'api'): Promise<void> {
    const entry = name === 'worker' ? 'worker/main.ts' : 'api/main.ts';
    const env = childEnv(process.env, this.o.env, this.o.apiPort);
    const log = (this.logs[name] ??= createWriteStream(path.join(this.o.dir, `${name}.log`), { flags: 'a' }));
    const child = spawn(process.execPath, ['--import', 'tsx', entry], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children[name] = child;
    let ready: () => void = () => {};
    const isReady = new Promise<void>((resolve) => (ready = resolve));
    let tail = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      log.write(chunk);
      // The worker has no readiness probe of its own: its "worker started" line says it polls.
      tail = (tail + chunk.toString()).slice(-4_096);
      if (name === 'worker' && tail.includes('"msg":"worker started"')) ready();
    });
    child.stderr!.on('data', (chunk: Buffer) => log.write(chunk));
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) =>
        reject(
          new Error(`${name} exited during start (${signal ?? code}); see ${path.join(this.o.dir, `${name}.log`)}`),
        ),
      ),
    );
    exited.catch(() => {});
    let up = false;
    child.once('exit', (code, signal) => {
      if (!up || this.children[name] !== child || this.stopping) return;
      // Not killed by us: a crash. Restart it like a supervisor would.
      delete this.children[name];
      this.crashes[name] += 1;
      this.downtimes.push({ process: name, from: Date.now(), to: null, cause: 'crash' });
      this.o.log(`${name} exited on its own (${signal ?? code}): restarting it`);
      void this.restartAfterCrash(name);
    });
    if (name === 'api') void this.pollHealth(child).then((ok) => ok && ready());
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${name} not ready after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS).unref(),
    );
    try {
      await Promise.race([isReady, exited, timeout]);
      up = true;
    } catch (e) {
      if (this.children[name] === child) delete this.children[name];
      child.kill('SIGKILL');
      throw e;
    }
  }

  /** Like a supervisor: try again every 2 s until it runs (Temporal may be down meanwhile). */
  private async restartAfterCrash(name: 'worker' | 'api'): Promise<void> {
    for (;;) {
      await new Promise((r) => setTimeout(r, 1_000));
      if (this.stopping || this.children[name]) return;
      try {
        await this.start(name);
        return;
      } catch (e) {
        this.o.log(`restarting ${name} failed: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }

  /** Resolves when every process runs (a crashed one may be restarting); throws past `timeoutMs`. */
  async allUp(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(['worker', 'api', 'temporal'] as const).every((p) => this.isUp(p))) {
      if (Date.now() > deadline) throw new Error(`processes not all up after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async pollHealth(child: ChildProcess): Promise<boolean> {
    while (child.exitCode === null && child.signalCode === null) {
      const ok = await fetch(`${this.apiUrl}/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      Object.values(this.children).map(
        (c) =>
          new Promise<void>((resolve) => {
            if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    this.children = {};
    await this.temporal?.stop(5_000);
    this.temporal = undefined;
    for (const l of Object.values(this.logs)) l?.end();
    process.off('exit', this.killAll);
  }
}
