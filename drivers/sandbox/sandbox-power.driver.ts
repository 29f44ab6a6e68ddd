/**
 * PowerDriver over the sandbox datacenter: a BMC per machine, found by account + BMC address.
 * Behaves like ipmitool against a real BMC at the driver boundary: same failure types, soft power-off
 * that takes the OS's shutdown time, power-on that takes a boot before SSH answers.
 */
import { createHash } from 'node:crypto';
import type { Db, SandboxMachine } from '../../db/database';
import { FAILURE } from '../../lib/failures';
import { DriverError, type BmcIdentity, type BmcTarget, type PowerDriver, type PowerState } from '../types';
import {
  appendPowerEvent,
  clockOf,
  findByBmc,
  hasFault,
  lockMachine,
  machineCondition,
  verifyBmcPassword,
  type SandboxClock,
} from './sandbox-machines';

/** The fingerprint of the certificate a simulated Redfish BMC presents: stable, one per machine. */
export function sandboxTlsFingerprint(machineId: string): string {
  const hex = createHash('sha256').update(`nodefoundry-sandbox-bmc:${machineId}`).digest('hex').toUpperCase();
  return hex.match(/.{2}/g)!.join(':');
}

export function createSandboxPowerDriver(db: Db, accountId: string, clock?: SandboxClock): PowerDriver {
  const now = clockOf(clock);

  /** The checks a real BMC session makes before any command: reachable, then credentials. */
  function authenticate(m: SandboxMachine | undefined, bmc: BmcTarget): SandboxMachine {
    if (!m || hasFault(m, 'bmc_unreachable')) {
      throw new DriverError(
        FAILURE.bmcUnreachable,
        `BMC ${bmc.address} did not answer: Unable to establish IPMI v2 / RMCP+ session`,
        true,
      );
    }
    if (bmc.protocol === 'redfish' && bmc.tlsFingerprint !== sandboxTlsFingerprint(m.id)) {
      // As the Redfish driver: credentials only go to the pinned certificate.
      throw new DriverError(
        FAILURE.bmcCertificateMismatch,
        `Redfish BMC ${bmc.address}:${bmc.port} ${bmc.tlsFingerprint ? 'presents a TLS certificate other than the one pinned at registration' : 'has no pinned TLS certificate'}: refusing to send it credentials`,
        false,
      );
    }
    if (
      hasFault(m, 'bmc_auth_fail') ||
      bmc.username !== m.bmc_username ||
      !verifyBmcPassword(m.bmc_password_hash, bmc.password)
    ) {
      throw new DriverError(
        FAILURE.bmcAuthFailed,
        `BMC ${bmc.address} rejected the credentials of user "${bmc.username}"`,
        false,
      );
    }
    return m;
  }

  /**
   * One chassis command: authenticate and change the machine in one short transaction holding the
   * row lock, and log the command, so concurrent commands apply one after the other.
   */
  async function command(
    bmc: BmcTarget,
    action: string,
    apply: (m: SandboxMachine, t: number) => Partial<SandboxMachine> | null,
  ): Promise<void> {
    const found = await findByBmc(db, accountId, bmc.address);
    authenticate(found, bmc);
    await db.transaction().execute(async (trx) => {
      const t = now();
      const m = authenticate(await lockMachine(trx, found!.id, t), bmc);
      const change = apply(m, t);
      if (change) {
        const { power_state, power_changed_at, pending_power, pending_power_at } = change;
        await trx
          .updateTable('sandbox_machines')
          .set({ power_state, power_changed_at, pending_power, pending_power_at })
          .where('id', '=', m.id)
          .execute();
      }
      await appendPowerEvent(trx, m, action, t);
    });
  }

  return {
    /**
     * A simulated Redfish BMC presents a certificate of its own (a stable fingerprint derived from
     * its machine), pinned at registration like a real one; IPMI has none.
     */
    async identify(bmc: BmcTarget): Promise<BmcIdentity> {
      const m = await findByBmc(db, accountId, bmc.address);
      if (!m || hasFault(m, 'bmc_unreachable')) {
        throw new DriverError(FAILURE.bmcUnreachable, `Redfish BMC ${bmc.address} did not answer`, true);
      }
      return { tlsFingerprint: bmc.protocol === 'redfish' ? sandboxTlsFingerprint(m.id) : null };
    },

    async status(bmc: BmcTarget): Promise<PowerState> {
      const m = authenticate(await findByBmc(db, accountId, bmc.address), bmc);
      if (hasFault(m, 'power_state_unknown')) {
        // As the real drivers: a read that says neither on nor off is unknown, never "off".
        throw new DriverError(
          FAILURE.bmcPowerUnknown,
          `BMC ${bmc.address} answered the power-state read with an error (HTTP 500): state unknown`,
          true,
        );
      }
      return machineCondition(m, now()).power;
    },

    async on(bmc: BmcTarget): Promise<void> {
      // Power on while on is a no-op on a real chassis, also while the OS is halting after a soft off.
      await command(bmc, 'on', (m, t) =>
        m.power_state === 'on'
          ? null
          : { power_state: 'on', power_changed_at: new Date(t), pending_power: null, pending_power_at: null },
      );
    },

    async off(bmc: BmcTarget): Promise<void> {
      await command(bmc, 'off', (m, t) =>
        m.power_state === 'off'
          ? null
          : { power_state: 'off', power_changed_at: new Date(t), pending_power: null, pending_power_at: null },
      );
    },

    async soft(bmc: BmcTarget): Promise<void> {
      // ACPI: the OS gets the power-button event and halts; the chassis goes off when it is done.
      // Repeating it while a shutdown is in flight does not restart the shutdown.
      await command(bmc, 'soft', (m, t) => {
        if (m.power_state === 'off' || m.pending_power === 'off' || hasFault(m, 'soft_off_ignored')) return null;
        return {
          power_state: 'on',
          power_changed_at: m.power_changed_at,
          pending_power: 'off',
          pending_power_at: new Date(t + m.shutdown_delay_ms),
        };
      });
    },

    async bootDevice(bmc: BmcTarget, device: 'pxe' | 'disk'): Promise<void> {
      await command(bmc, `bootdev ${device}`, () => null);
    },
  };
}
