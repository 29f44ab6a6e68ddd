import type { Db } from '../../db/database';
import { rackSandboxMachine, type SandboxMachineView } from '../../drivers/sandbox';
import type { SandboxClock } from '../../drivers/sandbox';
import type { BmcTarget, SshTarget } from '../../drivers/types';

/** A clock the test moves by hand: sandbox delays are checked at exact instants, without sleeping. */
export function manualClock(start = Date.now()) {
  const clock = {
    t: start,
    now: () => clock.t,
    advance(ms: number) {
      clock.t += ms;
    },
  };
  return clock;
}

let n = 0;

/** Racks a machine with unique addresses; returns it with its BMC and SSH targets. */
export async function rack(db: Db, accountId: string, speed: number, hostname?: string, clock?: SandboxClock) {
  n += 1;
  const name = hostname ?? `sbx-${process.pid}-${n}`;
  const input = {
    accountId,
    hostname: name,
    ipAddress: `10.77.${n >> 8}.${n & 255}`,
    ipmiAddress: `10.78.${n >> 8}.${n & 255}`,
    bmcUsername: 'admin',
    bmcPassword: `secret-${n}`,
  };
  const machine: SandboxMachineView = await rackSandboxMachine(db, input, speed, clock);
  const bmc: BmcTarget = { address: input.ipmiAddress, port: 623, username: 'admin', password: input.bmcPassword };
  const ssh: SshTarget = {
    host: input.ipAddress,
    port: 22,
    username: 'nodefoundry',
    privateKey: 'unused',
    pinnedFingerprint: null,
  };
  return { machine, input, bmc, ssh };
}
