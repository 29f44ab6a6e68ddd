import type { ExecOptions, ExecResult, ShellSession } from '../../drivers/types';
import { commandFailed } from '../../drivers/driver-errors';

/**
 * A ShellSession that answers from a script (command → result), for testing code that runs
 * commands over a shell (inventory, the ceph CLI driver) without a host. Unknown commands exit 127
 * like a shell would; every command is recorded.
 */
export class ScriptedShell implements ShellSession {
  readonly commands: string[] = [];
  closed = 0;

  constructor(
    private readonly script: Record<string, ExecResult | ((command: string) => ExecResult)>,
    readonly hostKeyFingerprint = 'SHA256:fake',
  ) {}

  async exec(command: string, _options?: ExecOptions): Promise<ExecResult> {
    this.commands.push(command);
    const entry = this.script[command];
    if (entry === undefined) return { code: 127, stdout: '', stderr: `sh: 1: ${command.split(' ')[0]}: not found\n` };
    return typeof entry === 'function' ? entry(command) : entry;
  }

  async run(command: string, options?: ExecOptions): Promise<string> {
    const res = await this.exec(command, options);
    if (res.code !== 0) throw commandFailed(command, res);
    return res.stdout;
  }

  close(): void {
    this.closed += 1;
  }
}

export const ok = (stdout: string): ExecResult => ({ code: 0, stdout, stderr: '' });
