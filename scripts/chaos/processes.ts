/**
 * The three processes of a chaos run, each a separate OS process like in production: the Temporal
 * CLI dev server (SQLite file in the run's directory, so its state survives a SIGKILL), the worker
 * (worker/main.ts) and the API (api/main.ts). Kills are SIGKILL; every dead period is recorded, so
 * the invariants can tell "the API was dead" from "the API answered 5xx". A worker or API that exits
 * on its own is restarted (as systemd would) and counted as a crash.
 *
 * `--topology` (issue 14): the Temporal server runs outside (scripts/topology/up.sh
 * --temporal-only) and there are two workers and two APIs (worker-1/2, api-1/2); a kill names one
 * of them, and its Downtime says which (`instance`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../lib/paths';
import { startTemporalDevServer, type TemporalDevServer } from '../lib/temporal-dev-server';
import type { ProcessName } from './plan';

export interface Downtime {
  process: ProcessName;
  /** With several processes of a kind (`--topology`: worker-1/2, api-1/2): which one was down. */
  instance?: string;
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
  /**
   * `--topology`: the Temporal server runs outside (scripts/topology/up.sh --temporal-only); it is
   * never started, killed or stopped here.
   */
  externalTemporal?: { address: string };
  /** One API process per port (default: one, on apiPort); several are named api-1, api-2, …. */
  apiPorts?: number[];
  /** Worker processes (default 1); several are named worker-1, worker-2, …. */
  workers?: number;
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
  /** Running worker and API processes by instance name ('worker', 'api', or 'worker-1', 'api-2', …). */
  private children = new Map<string, ChildProcess>();
  private logs = new Map<string, WriteStream>();
  private stopping = false;
  private readonly killAll = () => {
    for (const c of this.children.values()) c.kill('SIGKILL');
    this.temporal?.killNow();
  };

  constructor(private readonly o: ProcessOptions) {
    process.once('exit', this.killAll);
  }

  private get apiPorts(): number[] {
    return this.o.apiPorts ?? [this.o.apiPort];
  }

  /** The instance names of a kind: one process keeps the kind's name, several are numbered. */
  instances(name: 'worker' | 'api'): string[] {
    const n = name === 'api' ? this.apiPorts.length : (this.o.workers ?? 1);
    return n === 1 ? [name] : Array.from({ length: n }, (_, i) => `${name}-${i + 1}`);
  }

  private kindOf(instance: string): 'worker' | 'api' {
    return instance.startsWith('api') ? 'api' : 'worker';
  }

  private portOf(instance: string): number {
    const i = this.instances('api').indexOf(instance);
    return this.apiPorts[Math.max(0, i)]!;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.apiPorts[0]}`;
  }

  /** Every API process, for clients that spread their attempts over them. */
  get apiTargets(): { name: string; url: string }[] {
    return this.instances('api').map((name) => ({ name, url: `http://127.0.0.1:${this.portOf(name)}` }));
  }

  get temporalAddress(): string {
    return this.o.externalTemporal?.address ?? `127.0.0.1:${this.o.temporalPort}`;
  }

  isUp(name: ProcessName): boolean {
    if (name === 'temporal' && this.o.externalTemporal) return true;
    return (
      !this.downtimes.some((d) => d.process === name && d.to === null) &&
      (name === 'temporal' ? !!this.temporal : this.instances(name).every((i) => this.children.has(i)))
    );
  }

  async startAll(): Promise<void> {
    if (!this.o.externalTemporal) await this.start('temporal');
    await Promise.all(
      [...this.instances('worker'), ...this.instances('api')].map((i) => this.start(this.kindOf(i), i)),
    );
  }

  /**
   * SIGKILL now; the dead period lasts until `start` reports it ready again. `instance` picks one of
   * several (default: the first).
   */
  kill(name: ProcessName, instance?: string): void {
    if (name === 'temporal' && this.o.externalTemporal)
      throw new Error('the external Temporal server is not killed here');
    const inst = name === 'temporal' ? 'temporal' : (instance ?? this.instances(name)[0]!);
    this.kills[name] += 1;
    this.downtimes.push({
      process: name,
      ...(name !== 'temporal' && this.instances(name).length > 1 ? { instance: inst } : {}),
      from: Date.now(),
      to: null,
      cause: 'kill',
    });
    this.o.log(`SIGKILL ${inst}`);
    if (name === 'temporal') {
      this.temporal?.killNow();
      this.temporal = undefined;
    } else {
      const child = this.children.get(inst);
      this.children.delete(inst);
      child?.kill('SIGKILL');
    }
  }

  async start(name: ProcessName, instance?: string): Promise<void> {
    const inst = name === 'temporal' ? 'temporal' : (instance ?? this.instances(name)[0]!);
    const t0 = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        if (name === 'temporal') this.temporal = await this.startTemporal();
        else await this.spawnNode(inst);
        break;
      } catch (e) {
        if (attempt >= 3 || this.stopping) throw e;
        this.o.log(`starting ${inst} failed (${(e as Error).message.split('\n')[0]}): trying again`);
        await new Promise((r) => setTimeout(r, 2_000));
      }
    }
    const open = this.downtimes.find(
      (d) => d.process === name && d.to === null && (d.instance === undefined || d.instance === inst),
    );
    if (open) open.to = Date.now();
    this.o.log(`${inst} ready (${Date.now() - t0} ms)`);
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

  private async spawnNode(inst: string): Promise<void> {
    const name = this.kindOf(inst);
    const entry = name === 'worker' ? 'worker/main.ts' : 'api/main.ts';
    const env = childEnv(process.env, this.o.env, name === 'api' ? this.portOf(inst) : this.o.apiPort);
    let log = this.logs.get(inst);
    if (!log) {
      log = createWriteStream(path.join(this.o.dir, `${inst}.log`), { flags: 'a' });
      this.logs.set(inst, log);
    }
    const child = spawn(process.execPath, ['--import', 'tsx', entry], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.set(inst, child);
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
          new Error(`${inst} exited during start (${signal ?? code}); see ${path.join(this.o.dir, `${inst}.log`)}`),
        ),
      ),
    );
    exited.catch(() => {});
    let up = false;
    child.once('exit', (code, signal) => {
      if (!up || this.children.get(inst) !== child || this.stopping) return;
      // Not killed by us: a crash. Restart it like a supervisor would.
      this.children.delete(inst);
      this.crashes[name] += 1;
      this.downtimes.push({
        process: name,
        ...(inst !== name ? { instance: inst } : {}),
        from: Date.now(),
        to: null,
        cause: 'crash',
      });
      this.o.log(`${inst} exited on its own (${signal ?? code}): restarting it`);
      void this.restartAfterCrash(inst);
    });
    if (name === 'api') void this.pollHealth(child, this.portOf(inst)).then((ok) => ok && ready());
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${inst} not ready after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS).unref(),
    );
    try {
      await Promise.race([isReady, exited, timeout]);
      up = true;
    } catch (e) {
      if (this.children.get(inst) === child) this.children.delete(inst);
      child.kill('SIGKILL');
      throw e;
    }
  }

  /** Like a supervisor: try again every 2 s until it runs (Temporal may be down meanwhile). */
  private async restartAfterCrash(inst: string): Promise<void> {
    for (;;) {
      await new Promise((r) => setTimeout(r, 1_000));
      if (this.stopping || this.children.has(inst)) return;
      try {
        await this.start(this.kindOf(inst), inst);
        return;
      } catch (e) {
        this.o.log(`restarting ${inst} failed: ${(e as Error).message.split('\n')[0]}`);
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

  private async pollHealth(child: ChildProcess, port: number): Promise<boolean> {
    while (child.exitCode === null && child.signalCode === null) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
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
      [...this.children.values()].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    this.children.clear();
    await this.temporal?.stop(5_000);
    this.temporal = undefined;
    for (const l of this.logs.values()) l.end();
    process.off('exit', this.killAll);
  }
}
