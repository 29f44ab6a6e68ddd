/**
 * The operation registry: one entry per operation type, and the only list of them. Everything else
 * derives from it: the operation types the API accepts, the workflow it starts (and the input the
 * compiler demands at that start: `OperationInput` in registry.types.ts), the steps the workflow's
 * tracker reports, the dry run, whether pause/resume is offered.
 *
 * Names, data and nothing else: this module imports nothing, so the API, the workflow bundle and
 * the contracts may all load it (the API must never load a module that calls proxyActivities).
 * The names are checked by the compiler: `workflowType` against the exports of workflows/index.ts
 * (registry.types.ts), `planner` against the dry runs exported from workflows/plans/index.ts
 * (plan-operation.workflow.ts); test/unit/operation-registry.test.ts checks each workflow is
 * served and has a recorded history. Adding an operation: docs/architecture.md "Adding an operation".
 */

/** Step names, in order, as the operation's tracker reports them (OperationTracker). */
export type StepList = readonly string[];

export interface OperationEntry {
  /**
   * The workflow type: the name of the workflow function exported from workflows/index.ts.
   * Fixed forever once histories exist (Temporal finds the code of a running workflow by it).
   */
  readonly workflowType: string;
  /** The steps the workflow reports; several lists when the request selects a variant. */
  readonly steps: StepList | { readonly [variant: string]: StepList };
  /** The dry run (`?dry_run=true`): a function exported from workflows/plans/index.ts, or null. */
  readonly planner: string | null;
  /** Whether the workflow handles the pause/resume updates (POST /v1/operations/{id}/pause). */
  readonly pausable: boolean;
  /**
   * What the operation locks (operation_locks), for the reader. The lock ids themselves are built
   * by the API service that starts the operation, in the transaction that takes them: they depend
   * on state read there (the node's cluster, the members, the configured drain slots), which neither
   * the workflow input nor this table has. See docs/architecture.md "Operations".
   */
  readonly locks: string;
}

export const OPERATIONS = {
  'node.register': {
    workflowType: 'registerNodeWorkflow',
    steps: ['inventory', 'check_bmc', 'mark_ready'],
    planner: null,
    pausable: false,
    locks: 'the node',
  },
  'node.reboot': {
    workflowType: 'rebootNodeWorkflow',
    steps: [
      'preflight',
      'set_noout',
      'stop_osds',
      'power_off',
      'power_on',
      'wait_ssh',
      'wait_osds_up',
      'unset_noout',
      'wait_clean',
    ],
    planner: 'planRebootNode',
    pausable: false,
    locks: 'the node, and its cluster when it is a member',
  },
  'maintenance.enter': {
    workflowType: 'enterMaintenanceWorkflow',
    steps: ['preflight', 'set_noout', 'stop_osds', 'power_off', 'mark_maintenance'],
    planner: 'planEnterMaintenance',
    pausable: false,
    locks: 'the node, and its cluster when it is a member',
  },
  'maintenance.exit': {
    workflowType: 'exitMaintenanceWorkflow',
    steps: [
      'preflight',
      'power_on',
      'wait_ssh',
      'start_osds',
      'wait_osds_up',
      'unset_noout',
      'wait_clean',
      'clear_maintenance',
    ],
    planner: 'planExitMaintenance',
    pausable: false,
    locks: 'the node, and its cluster when it is a member',
  },
  'cluster.create': {
    workflowType: 'createClusterWorkflow',
    steps: [
      'preflight',
      'mark_provisioning',
      'power_on',
      'wait_ssh',
      'bootstrap',
      'add_hosts',
      'place_mons',
      'place_mgrs',
      'create_osds',
      'create_crush_rule',
      'wait_ready',
      'record_state',
    ],
    planner: 'planCreateCluster',
    pausable: false,
    locks: 'the new cluster and every member node',
  },
  'cluster.import': {
    workflowType: 'importClusterWorkflow',
    steps: ['preflight', 'wait_ssh', 'discover', 'record'],
    planner: null,
    pausable: false,
    locks: 'the new cluster and every member node',
  },
  'cluster.upgrade': {
    workflowType: 'upgradeClusterWorkflow',
    steps: [
      'preflight',
      'freeze_autoscale',
      'upgrade_mgrs',
      'upgrade_mons',
      'upgrade_osd_hosts',
      'restore_autoscale',
      'refresh_state',
    ],
    planner: 'planUpgradeCluster',
    pausable: true,
    locks: 'the cluster and every member node',
  },
  'cluster.delete': {
    workflowType: 'deleteClusterWorkflow',
    steps: [
      'preflight',
      'mark_deleting',
      'power_on',
      'wait_ssh',
      'stop_ceph',
      'zap_devices',
      'remove_cluster',
      'release_nodes',
    ],
    planner: 'planDeleteCluster',
    pausable: false,
    locks: 'the cluster and every member node',
  },
  'osd.reweight': {
    workflowType: 'reweightOsdWorkflow',
    steps: {
      reweight: ['preflight', 'set_crush_weight', 'wait_backfill', 'record_state'],
      /** Weight 0: the OSD is emptied and checked safe to destroy. */
      drain: ['preflight', 'set_crush_weight', 'wait_drain', 'safe_to_destroy', 'record_state'],
    },
    planner: 'planReweightOsd',
    pausable: false,
    locks:
      "the OSD (`clus_…/osd.N`) and one of the cluster's reweight slots (`clus_…/reweight-slot/i`, NF_DRAIN_SLOTS)",
  },
  'cluster.expand': {
    workflowType: 'expandClusterWorkflow',
    steps: [
      'preflight',
      'mark_provisioning',
      'power_on',
      'wait_ssh',
      'add_hosts',
      'create_osds',
      'raise_weights',
      'record_state',
    ],
    planner: 'planExpandCluster',
    pausable: true,
    locks: 'the cluster and every node being added',
  },
  'pool.create': {
    workflowType: 'createPoolWorkflow',
    steps: [
      'preflight',
      'create_profile',
      'create_pool',
      'set_size',
      'enable_application',
      'set_autoscale',
      'verify',
      'record',
    ],
    planner: null,
    pausable: false,
    locks: 'the cluster and the new pool',
  },
  'pool.delete': {
    workflowType: 'deletePoolWorkflow',
    steps: ['preflight', 'delete_pool', 'verify', 'record'],
    planner: null,
    pausable: false,
    locks: 'the cluster and the pool',
  },
  'osd.replace': {
    workflowType: 'replaceOsdWorkflow',
    /** drain and safe_to_destroy are skipped when the OSD is down (failed) or already empty. */
    steps: [
      'preflight',
      'drain',
      'safe_to_destroy',
      'destroy',
      'recreate',
      'restore_weight',
      'wait_backfill',
      'refresh_inventory',
    ],
    planner: 'planReplaceOsd',
    pausable: false,
    locks:
      "the OSD (`clus_…/osd.N`), its node, and one of the cluster's reweight slots (`clus_…/reweight-slot/i`, NF_DRAIN_SLOTS)",
  },
  'cluster.shrink': {
    workflowType: 'removeHostWorkflow',
    steps: [
      'preflight',
      'move_mons',
      'move_mgrs',
      'drain_osds',
      'safe_to_destroy',
      'purge_osds',
      'remove_host',
      'release_node',
    ],
    planner: 'planRemoveHost',
    pausable: false,
    locks: 'the cluster and the node leaving it',
  },
} as const satisfies Record<string, OperationEntry>;

export type OperationType = keyof typeof OPERATIONS;

/** Every operation type, in the registry's order (the API's enum of `type`). */
export const OPERATION_TYPES = Object.keys(OPERATIONS) as OperationType[];

export function isOperationType(type: string): type is OperationType {
  return Object.prototype.hasOwnProperty.call(OPERATIONS, type);
}

/** Operation types whose workflows handle the pause and resume updates. */
export const PAUSABLE_TYPES: readonly OperationType[] = OPERATION_TYPES.filter((t) => OPERATIONS[t].pausable);
