import type { ActivityDeps } from './deps';
import type { NodeFacts } from '../lib/plans/reboot-node.planner';
import { json, type Drive, type NodeStatus } from '../db/database';
import { pinBmcCertificate, pinHostKey, setNodeStatus, updateNode } from '../db/repositories/nodes.repository';
import { readInventory } from '../drivers/host-inventory';
import * as maintenance from '../db/repositories/maintenance.repository';
import type { MaintenanceRecord } from '../lib/plans/maintenance.planner';
import { bmcTarget, driversFor, loadNode, sshTarget } from './targets';
import { FAILURE, guarded, permanent, pollUntil } from './failures';

export interface InventoryResult {
  cpu_cores: number;
  ram_gb: number;
  drives: Drive[];
  ssh_host_key_fingerprint: string;
  /** What inventory could not read well (no smartctl, a disk without SMART): shown in the operation log. */
  warnings: string[];
}

export function createNodeActivities(deps: ActivityDeps) {
  return {
    /** Non-secret facts about a node, for the workflow's decisions. */
    async describeNode(input: { nodeId: string }): Promise<NodeFacts> {
      const n = await loadNode(deps, input.nodeId);
      return {
        nodeId: n.id,
        hostname: n.hostname,
        environment: n.environment,
        clusterId: n.cluster_id,
        held: n.held,
        status: n.status,
      };
    },

    async setNodeStatus(input: { nodeId: string; status: NodeStatus; reason?: string | null }): Promise<void> {
      await setNodeStatus(deps.db, input.nodeId, input.status, input.reason ?? null);
    },

    /** The node's maintenance record (issue 13 #1), or null when it is not in maintenance. */
    async describeMaintenance(input: { nodeId: string }): Promise<MaintenanceRecord | null> {
      return maintenance.getMaintenance(deps.db, input.nodeId);
    },

    /** Node status `maintenance` and the record of what entering changed, in one transaction. */
    async recordMaintenance(input: {
      nodeId: string;
      record: Omit<MaintenanceRecord, 'enteredAt'>;
      reason: string;
    }): Promise<void> {
      await maintenance.enterMaintenance(deps.db, input.nodeId, input.record, input.reason);
    },

    /** Ends maintenance: the record removed and the node's new status, in one transaction. */
    async clearMaintenance(input: { nodeId: string; status: NodeStatus; reason: string | null }): Promise<void> {
      await maintenance.exitMaintenance(deps.db, input.nodeId, input.status, input.reason);
    },

    /**
     * SSH in, pin the host key on first contact (verify it on every later one), read CPU, memory,
     * drives and SMART health, and store them. Safe to retry: the pin is only written when empty,
     * and a retry after a crash verifies against the key pinned by the first attempt.
     */
    async inventoryNode(input: { nodeId: string }): Promise<InventoryResult> {
      return guarded(async () => {
        const node = await loadNode(deps, input.nodeId);
        const session = await driversFor(deps, node).shell.connect(sshTarget(deps, node), {
          readyTimeoutMs: deps.config.sshReadyTimeoutMs,
        });
        try {
          const inv = await readInventory(session);
          const fp = session.hostKeyFingerprint;
          if (!node.ssh_host_key_fingerprint) {
            const pinned = await pinHostKey(deps.db, node.id, fp).catch((err: unknown) => {
              // nodes_host_key_unique: this machine is already registered under another record
              // (another address or port of it). Which record is never said: it may be another tenant's.
              const e = err as { code?: unknown; constraint?: unknown };
              if (e?.code === '23505' && e.constraint === 'nodes_host_key_unique') {
                throw permanent(
                  FAILURE.hostKeyInUse,
                  `${node.hostname} presents the SSH host key of a node already registered: two records must never drive one machine. Delete this record, or the other one.`,
                );
              }
              throw err;
            });
            if (!pinned) {
              // Another attempt pinned a key meanwhile: it must be the one we saw.
              const again = await loadNode(deps, node.id);
              if (again.ssh_host_key_fingerprint !== fp) {
                throw permanent(FAILURE.hostKeyMismatch, `Host key of ${node.hostname} changed during registration.`);
              }
            }
          }
          await updateNode(deps.db, node.id, {
            cpu_cores: inv.cpu_cores,
            ram_gb: inv.ram_gb,
            drives: json(inv.drives),
          });
          return { ...inv, ssh_host_key_fingerprint: fp };
        } finally {
          session.close();
        }
      });
    },

    /** Waits until the node answers SSH with its pinned host key (after a boot). */
    async waitForSsh(input: { nodeId: string }): Promise<void> {
      const node = await loadNode(deps, input.nodeId);
      const target = sshTarget(deps, node);
      const shell = driversFor(deps, node).shell;
      await pollUntil({
        intervalMs: deps.config.pollIntervalMs,
        timeoutMs: deps.config.waits.sshMs,
        timeoutType: FAILURE.sshTimeout,
        what: `SSH on ${node.hostname}`,
        probe: async () => {
          const s = await shell.connect(target, { readyTimeoutMs: deps.config.sshReadyTimeoutMs });
          try {
            await s.run('true');
            return true;
          } finally {
            s.close();
          }
        },
      });
    },

    /** Checks that the BMC answers with the registered credentials; returns the power state. */
    async checkBmc(input: { nodeId: string }): Promise<{ power: 'on' | 'off' }> {
      return guarded(async () => {
        let node = await loadNode(deps, input.nodeId);
        const driver = driversFor(deps, node).power;
        if (node.bmc_protocol === 'redfish' && !node.bmc_tls_fingerprint) {
          // First contact: pin the certificate the BMC presents (before any credentials are sent),
          // as inventoryNode pins the SSH host key. A retry verifies against the first attempt's pin.
          const seen = driver.identify ? (await driver.identify(bmcTarget(deps, node))).tlsFingerprint : null;
          if (!seen)
            throw permanent(FAILURE.bmcCertificateMismatch, `${node.hostname}'s BMC presented no TLS certificate.`);
          if (!(await pinBmcCertificate(deps.db, node.id, seen))) {
            node = await loadNode(deps, node.id);
            if (node.bmc_tls_fingerprint !== seen) {
              throw permanent(
                FAILURE.bmcCertificateMismatch,
                `TLS certificate of ${node.hostname}'s BMC changed during registration.`,
              );
            }
          }
          node = await loadNode(deps, node.id);
        }
        const power = await driver.status(bmcTarget(deps, node));
        return { power };
      });
    },
  };
}
