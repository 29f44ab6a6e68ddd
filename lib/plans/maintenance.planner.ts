import { FAILURE } from '../failures';
import { isServing } from './node-status';
import type { OperationPlan, PlanRefusal, PlanStep } from './plan';
import type { NodeFacts } from './reboot-node.planner';

/**
 * Maintenance mode (issue 13 #1): entering and exiting are two operations; between them no workflow
 * runs and the state is the node's status (`maintenance`) and its node_maintenance record. These pure
 * planners decide which steps run; the workflows run exactly those, and the dry runs return them.
 */

export interface EnterMaintenanceParams {
  powerOff: boolean;
}

export interface EnterMaintenanceFacts {
  node: NodeFacts;
  osdIds: number[];
  /** Known only to a dry run; the real run asserts it at the preflight gate. */
  okToStop?: { ok: boolean; reason: string | null };
}

/** What entering maintenance changed, as the exit reads it back from node_maintenance. */
export interface MaintenanceRecord {
  clusterId: string | null;
  hostname: string;
  osdIds: number[];
  nooutSet: boolean;
  nooutFound: boolean;
  poweredOff: boolean;
  operationId: string;
  enteredAt: string;
}

function osdList(osdIds: number[]): string {
  return osdIds.length ? osdIds.map((i) => `osd.${i}`).join(', ') : 'none';
}

export function enterMaintenancePlan(
  facts: EnterMaintenanceFacts,
  params: EnterMaintenanceParams,
): OperationPlan<'maintenance.enter'> {
  const { node, osdIds } = facts;
  const host = node.hostname;
  const inCluster = node.clusterId !== null;
  const refusals: PlanRefusal[] = [];
  if (node.held) refusals.push({ code: FAILURE.nodeHeld, message: `Node ${host} is on hold.` });
  if (node.status === 'maintenance') {
    refusals.push({ code: FAILURE.nodeInMaintenance, message: `Node ${host} is already in maintenance.` });
  } else if (node.status !== 'ready' && !isServing(node.status)) {
    refusals.push({
      code: FAILURE.invalidState,
      message: `Node ${host} is ${node.status}; only ready or online nodes enter maintenance.`,
    });
  }
  if (facts.okToStop && !facts.okToStop.ok) {
    refusals.push({
      code: FAILURE.notOkToStop,
      message: `Ceph says ${osdList(osdIds)} are not ok to stop: ${facts.okToStop.reason ?? 'PGs would become inactive'}.`,
    });
  }
  const steps: PlanStep[] = [
    {
      name: 'preflight',
      description: `Check ${host} is not held${inCluster ? ` and that Ceph agrees its OSDs (${osdList(osdIds)}) are ok to stop` : ''}.`,
      checks: inCluster ? ['node not held', `ceph osd ok-to-stop ${osdIds.join(' ')}`.trim()] : ['node not held'],
    },
  ];
  if (inCluster) {
    steps.push({
      name: 'set_noout',
      description: `ceph osd set-group noout ${host}, then read it back (a noout already set is left to its owner).`,
      checks: ['noout reported on the host'],
    });
    if (osdIds.length > 0) {
      steps.push({
        name: 'stop_osds',
        description: `Stop ${osdList(osdIds)} so Ceph marks them down cleanly.`,
        checks: ['OSDs reported down'],
      });
    }
  }
  if (params.powerOff) {
    steps.push({
      name: 'power_off',
      description: 'BMC chassis power soft (ACPI shutdown), poll until off.',
      checks: ['BMC reports off within the bound'],
    });
  }
  steps.push({
    name: 'mark_maintenance',
    description: `Node status maintenance; what was changed is recorded for the exit.`,
    checks: [],
  });
  return {
    type: 'maintenance.enter',
    would_run: refusals.length === 0,
    refusals,
    steps,
    facts: {
      node_id: node.nodeId,
      hostname: host,
      cluster_id: node.clusterId,
      osds: osdIds,
      power_off: params.powerOff,
    },
  };
}

export interface ExitMaintenanceFacts {
  node: NodeFacts;
  record: MaintenanceRecord | null;
}

export function exitMaintenancePlan(facts: ExitMaintenanceFacts): OperationPlan<'maintenance.exit'> {
  const { node, record } = facts;
  const host = node.hostname;
  const refusals: PlanRefusal[] = [];
  if (node.status !== 'maintenance' || !record) {
    refusals.push({
      code: FAILURE.invalidState,
      message: `Node ${host} is ${node.status}, not in maintenance; there is nothing to exit.`,
    });
  }
  const inCluster = record?.clusterId != null;
  const osdIds = record?.osdIds ?? [];
  const steps: PlanStep[] = [
    { name: 'preflight', description: `Read the maintenance record of ${host}.`, checks: ['node in maintenance'] },
    {
      name: 'power_on',
      description: 'BMC chassis power on if it is off, poll until on.',
      checks: ['BMC reports on within the bound (else: the host stays down, see the result)'],
    },
    {
      name: 'wait_ssh',
      description: `Wait for SSH on ${host} with its pinned host key.`,
      checks: ['host key matches the pin (else: the host stays down, see the result)'],
    },
  ];
  if (inCluster && osdIds.length > 0) {
    steps.push(
      { name: 'start_osds', description: `Start ${osdList(osdIds)}.`, checks: [] },
      { name: 'wait_osds_up', description: `Wait for ${osdList(osdIds)} to come up.`, checks: ['OSDs up'] },
    );
  }
  if (inCluster) {
    steps.push(
      record?.nooutFound
        ? {
            name: 'unset_noout',
            description: `noout on ${host} was set before maintenance (not by NodeFoundry): left as it was.`,
            checks: [],
          }
        : {
            name: 'unset_noout',
            description: `ceph osd unset-group noout ${host}, then read it back; done even when the host stays down (Ceph may then recover its data elsewhere).`,
            checks: ['noout gone from the host'],
          },
      {
        name: 'wait_clean',
        description: 'Wait until every PG is active+clean (only when the host came back).',
        checks: ['PGs active+clean'],
      },
    );
  }
  steps.push({
    name: 'clear_maintenance',
    description: `Node status ${inCluster ? 'online' : 'ready'} (offline, or error outside a cluster, when the host stays down); the record is removed.`,
    checks: [],
  });
  return {
    type: 'maintenance.exit',
    would_run: refusals.length === 0,
    refusals,
    steps,
    facts: {
      node_id: node.nodeId,
      hostname: host,
      cluster_id: record?.clusterId ?? node.clusterId,
      osds: osdIds,
      powered_off: record?.poweredOff ?? false,
      noout_set_by_maintenance: record?.nooutSet ?? false,
      entered_at: record?.enteredAt ?? null,
    },
  };
}
