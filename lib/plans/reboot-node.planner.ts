import { FAILURE } from '../failures';
import { isServing } from './node-status';
import type { OperationPlan, PlanRefusal, PlanStep } from './plan';

/** How a reboot powers the machine off (RebootNodeInput.method). */
export type RebootMethod = 'graceful' | 'hard';

/** A node as the reboot planner sees it (read by the describeNode activity). */
export interface NodeFacts {
  nodeId: string;
  hostname: string;
  environment: 'live' | 'sandbox';
  clusterId: string | null;
  held: boolean;
  status: string;
}

export interface RebootParams {
  method: RebootMethod;
  drainOsds: boolean;
}

export interface RebootFacts {
  node: NodeFacts;
  osdIds: number[];
  /** Known only to a dry run; the real run asserts it at the preflight gate. */
  okToStop?: { ok: boolean; reason: string | null };
}

/**
 * The reboot as a plan: which steps run and which gates they pass. The workflow runs exactly the
 * steps this returns, and a dry run returns it, so the two cannot disagree.
 */
export function rebootPlan(facts: RebootFacts, params: RebootParams): OperationPlan<'node.reboot'> {
  const { node, osdIds } = facts;
  const host = node.hostname;
  const inCluster = node.clusterId !== null;
  const osdList = osdIds.length ? osdIds.map((i) => `osd.${i}`).join(', ') : 'none';
  const refusals: PlanRefusal[] = [];
  if (node.held) refusals.push({ code: FAILURE.nodeHeld, message: `Node ${host} is on hold.` });
  // isServing: `online`, or `active` as recorded histories from before the rename say (lib/node-status.ts).
  if (node.status === 'maintenance') {
    refusals.push({
      code: FAILURE.nodeInMaintenance,
      message: `Node ${host} is in maintenance; end maintenance first.`,
    });
  } else if (node.status !== 'ready' && !isServing(node.status)) {
    refusals.push({
      code: FAILURE.invalidState,
      message: `Node ${host} is ${node.status}; only ready or online nodes are rebooted.`,
    });
  }
  if (facts.okToStop && !facts.okToStop.ok) {
    refusals.push({
      code: FAILURE.notOkToStop,
      message: `Ceph says ${osdList} are not ok to stop: ${facts.okToStop.reason ?? 'PGs would become inactive'}.`,
    });
  }
  const command = params.method === 'graceful' ? 'soft (ACPI shutdown), poll until off' : 'off, poll until off';
  const steps: PlanStep[] = [
    {
      name: 'preflight',
      description: `Check ${host} is not held${inCluster ? ` and that Ceph agrees its OSDs (${osdList}) are ok to stop` : ''}.`,
      checks: inCluster ? ['node not held', `ceph osd ok-to-stop ${osdIds.join(' ')}`.trim()] : ['node not held'],
    },
  ];
  if (inCluster) {
    steps.push({
      name: 'set_noout',
      description: `ceph osd set-group noout ${host}, then read it back from the OSD map.`,
      checks: ['noout reported on the host'],
    });
    if (params.drainOsds && osdIds.length > 0) {
      steps.push({
        name: 'stop_osds',
        description: `Stop ${osdList} so Ceph marks them down cleanly.`,
        checks: ['OSDs reported down'],
      });
    }
  }
  steps.push(
    { name: 'power_off', description: `IPMI chassis power ${command}.`, checks: ['BMC reports off within the bound'] },
    {
      name: 'power_on',
      description: 'IPMI chassis power on, poll until on.',
      checks: ['BMC reports on within the bound'],
    },
    {
      name: 'wait_ssh',
      description: `Wait for SSH on ${host} with its pinned host key.`,
      checks: ['host key matches the pin'],
    },
  );
  if (inCluster) {
    if (osdIds.length > 0)
      steps.push({ name: 'wait_osds_up', description: `Wait for ${osdList} to come up.`, checks: ['OSDs up'] });
    steps.push(
      {
        name: 'unset_noout',
        description: `ceph osd unset-group noout ${host}, then read it back.`,
        checks: ['noout gone from the host'],
      },
      {
        name: 'wait_clean',
        description: 'Wait until every PG is active+clean and every OSD is up.',
        checks: ['PGs active+clean'],
      },
    );
  }
  return {
    type: 'node.reboot',
    would_run: refusals.length === 0,
    refusals,
    steps,
    facts: {
      node_id: node.nodeId,
      hostname: host,
      cluster_id: node.clusterId,
      osds: osdIds,
      method: params.method,
      drain_osds: params.drainOsds,
    },
  };
}
