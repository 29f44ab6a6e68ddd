/**
 * The one place where the API and the worker agree on workflows: names, inputs, messages, ids,
 * search attributes and failure types. Deterministic and dependency-free apart from
 * @temporalio/workflow's message helpers, so both sides (and workflow bundles) may import it.
 */
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { OperationType } from './registry';

export const DEFAULT_TASK_QUEUE = 'nodefoundry';

// ---- Operation types: one table, workflows/registry.ts ------------------------------------------

export type { OperationType } from './registry';

/**
 * Workflow ids are business keys: the resource the operation acts on, the verb, and the operation id.
 * They read as what they are in the Web UI ("node_01…/reboot/op_01…") and are never time-based.
 */
export function workflowIdFor(type: OperationType, resourceId: string, operationId: string): string {
  const verb = type.split('.')[1]!;
  return `${resourceId}/${verb}/${operationId}`;
}

// ---- Inputs (ids only: everything passed in is stored in history forever) -----------------------

export interface OperationRef {
  operationId: string;
  accountId: string;
}

export interface RegisterNodeInput extends OperationRef {
  nodeId: string;
}

export type RebootMethod = 'graceful' | 'hard';

export interface RebootNodeInput extends OperationRef {
  nodeId: string;
  method: RebootMethod;
  drainOsds: boolean;
}

export interface CreateClusterInput extends OperationRef {
  clusterId: string;
}

export interface DeleteClusterInput extends OperationRef {
  clusterId: string;
}

/** Adopting an existing Ceph cluster: the cluster row (IMPORTING) and its members were written by the API. */
export interface ImportClusterInput extends OperationRef {
  clusterId: string;
}

/** `restart` restarts every daemon at its current version (a rolling restart), host by host. */
export type UpgradeMode = 'upgrade' | 'restart';

export interface UpgradeClusterInput extends OperationRef {
  clusterId: string;
  targetVersion: string;
  osPackages: boolean;
  maxConcurrent: number;
  mode: UpgradeMode;
}

/** What an upgrade run carries into its next run when it continues as new (see upgrade-cluster.workflow.ts). */
export interface UpgradeCarry {
  /** The operation's steps, logs and timestamps so far (OperationTracker.exportState()). */
  tracker: unknown;
  /** The upgrade's own progress: hosts done, the plan's host list, flags it set. */
  progress: unknown;
  /** How many runs came before this one. */
  runs: number;
}

export interface UpgradeClusterRunInput extends UpgradeClusterInput {
  /** Absent on the first run. */
  carry?: UpgradeCarry;
  /** Hosts started per run before continuing as new (tests lower it); default in the workflow. */
  hostsPerRun?: number;
}

/** One OSD host of a rolling upgrade: the child workflow upgradeHostWorkflow. */
export interface UpgradeHostInput extends OperationRef {
  clusterId: string;
  nodeId: string;
  host: string;
  osdIds: number[];
  targetVersion: string;
  mode: UpgradeMode;
  osPackages: boolean;
  /** The host runs a mon: a reboot must first pass `ceph mon ok-to-stop`. */
  monHost: boolean;
}

export const UPGRADE_HOST_WORKFLOW_TYPE = 'upgradeHostWorkflow';

/** Child workflow id of one host of an upgrade: `<cluster>/upgrade/<op>/host/<hostname>`. */
export function upgradeHostWorkflowId(clusterId: string, operationId: string, host: string): string {
  return `${workflowIdFor('cluster.upgrade', clusterId, operationId)}/host/${host}`;
}

export interface ReweightOsdInput extends OperationRef {
  clusterId: string;
  osdId: number;
  weight: number;
}

export interface PoolOperationInput extends OperationRef {
  clusterId: string;
  poolId: string;
}

// ---- The settler (workflows/settle-operations.workflow.ts) -------------------------------------

export const SETTLE_WORKFLOW_TYPE = 'settleOperationsWorkflow';

/** Limits a settler run to one account (tests); a scheduled run settles every account. */
export interface SettleOperationsInput {
  accountId?: string | null;
}

export interface SettleOperationsResult {
  settled: string[];
  failed: { operation_id: string; message: string }[];
}

/** The Temporal Schedule that starts the settler, one per task queue (the worker ensures it). */
export function settlerScheduleId(taskQueue: string): string {
  return `nodefoundry-settler/${taskQueue}`;
}

// ---- Plans (dry runs): the same planning code drives the real run --------------------------------

export interface PlanStep {
  name: string;
  description: string;
  /** The gates checked before or during this step. */
  checks: string[];
}

export interface PlanRefusal {
  code: string;
  message: string;
}

export interface OperationPlan {
  type: OperationType;
  /** False when a refusal stops the operation before it changes anything. */
  would_run: boolean;
  refusals: PlanRefusal[];
  steps: PlanStep[];
  /** Hosts in the order they would be worked on, batch by batch (upgrades). */
  batches?: string[][];
  /** The live state the plan was made from. */
  facts: Record<string, unknown>;
}

export interface PlanInput {
  type: OperationType;
  accountId: string;
  /** The resource the operation would act on (node or cluster id). */
  resourceId: string;
  /** The request's parameters, as validated by the API. */
  params: Record<string, unknown>;
}

export const PLAN_WORKFLOW_TYPE = 'planOperationWorkflow';

/** A dry run is a short read-only workflow; its id names what was planned and for which request. */
export function planWorkflowIdFor(type: OperationType, resourceId: string, requestId: string): string {
  return `${resourceId}/plan-${type.split('.')[1]!}/${requestId}`;
}

// ---- Operation state, as the workflow reports it -----------------------------------------------

export type OperationStatus = 'pending' | 'in_progress' | 'paused' | 'completed' | 'failed' | 'cancelled';
export type StepStatus = 'pending' | 'in_progress' | 'completed' | 'failed' | 'skipped' | 'cancelled';

export interface StepState {
  name: string;
  status: StepStatus;
  started_at: string | null;
  finished_at: string | null;
}

export interface LogEntry {
  timestamp: string;
  message: string;
}

export interface OperationError {
  code: string;
  message: string;
}

export interface OperationSnapshot {
  status: OperationStatus;
  progress: number;
  current_step: string | null;
  steps: StepState[];
  logs: LogEntry[];
  started_at: string | null;
  completed_at: string | null;
  estimated_completion: string | null;
  error: OperationError | null;
  result: Record<string, unknown> | null;
}

export const getOperationQuery = defineQuery<OperationSnapshot>('getOperation');

/** Pause a running operation (upgrades) at its next safe point; answers with the operation's state. */
export const pauseUpdate = defineUpdate<OperationSnapshot, [{ reason?: string }]>('pause');
/** Resume a paused operation (after a failure, the failed step is retried). */
export const resumeUpdate = defineUpdate<OperationSnapshot, []>('resume');

// ---- Search attributes (registered by scripts/temporal-dev.sh; operators filter on them) ----------

export const SA_OPERATION_ID = defineSearchAttributeKey('NfOperationId', 'KEYWORD');
export const SA_OPERATION_TYPE = defineSearchAttributeKey('NfOperationType', 'KEYWORD');
export const SA_CLUSTER_ID = defineSearchAttributeKey('NfClusterId', 'KEYWORD');
export const SA_NODE_ID = defineSearchAttributeKey('NfNodeId', 'KEYWORD');
export const SA_ACCOUNT_ID = defineSearchAttributeKey('NfAccountId', 'KEYWORD');

/** `name=Type` pairs for `temporal server start-dev --search-attribute`. */
export const SEARCH_ATTRIBUTE_DEFINITIONS = [
  'NfOperationId=Keyword',
  'NfOperationType=Keyword',
  'NfClusterId=Keyword',
  'NfNodeId=Keyword',
  'NfAccountId=Keyword',
] as const;

// ---- Failure types (ApplicationFailure.type); the operation's error.code is the same string ------

export const FAILURE = {
  /** The SSH host key differs from the one pinned at registration. Never retried. */
  hostKeyMismatch: 'host_key_mismatch',
  /** The BMC refused the credentials. Never retried. */
  bmcAuthFailed: 'bmc_auth_failed',
  /** The BMC did not answer (timeout, busy); retried with backoff, this is the final word. */
  bmcUnreachable: 'bmc_unreachable',
  /** ipmitool is not installed or not executable on the worker. Never retried. */
  ipmitoolMissing: 'ipmitool_missing',
  /** SSH authentication failed (bad user or key). Never retried. */
  sshAuthFailed: 'ssh_auth_failed',
  sshUnreachable: 'ssh_unreachable',
  commandFailed: 'command_failed',
  nodeNotFound: 'node_not_found',
  nodeHeld: 'node_held',
  notOkToStop: 'not_ok_to_stop',
  nooutNotSet: 'noout_not_set',
  powerTimeout: 'power_timeout',
  sshTimeout: 'ssh_timeout',
  osdsNotUp: 'osds_not_up',
  pgsNotClean: 'pgs_not_clean',
  cephUnavailable: 'ceph_unavailable',
  inventoryFailed: 'inventory_failed',
  cancelled: 'cancelled',
  invalidState: 'invalid_state',
  internal: 'internal_error',
  /** Upgrade preflight refusals and gates. */
  healthErr: 'health_err',
  monOutOfQuorum: 'mon_out_of_quorum',
  hostOffline: 'host_offline',
  tooFewMgrs: 'too_few_mgrs',
  downgradeRefused: 'downgrade_refused',
  versionJumpTooLarge: 'version_jump_too_large',
  unknownVersion: 'unknown_version',
  monNotOkToStop: 'mon_not_ok_to_stop',
  upgradeNotApplied: 'upgrade_not_applied',
  /** Import refusals: a Ceph host that is no member; a cluster (fsid) already managed. */
  unknownHosts: 'unknown_hosts',
  alreadyImported: 'already_imported',
  /** Registration: the host presents the SSH host key pinned for another node (one machine, two records). Never retried. */
  hostKeyInUse: 'host_key_in_use',
} as const;

export type FailureType = (typeof FAILURE)[keyof typeof FAILURE];

/** Failure types an activity must not retry: retrying cannot change the answer. */
export const NON_RETRYABLE: FailureType[] = [
  FAILURE.hostKeyMismatch,
  FAILURE.bmcAuthFailed,
  FAILURE.ipmitoolMissing,
  FAILURE.sshAuthFailed,
  FAILURE.nodeNotFound,
  FAILURE.nodeHeld,
  FAILURE.notOkToStop,
  FAILURE.nooutNotSet,
  FAILURE.inventoryFailed,
  FAILURE.monNotOkToStop,
  FAILURE.unknownVersion,
];
