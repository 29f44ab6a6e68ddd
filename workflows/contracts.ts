/**
 * The one place where the API and the worker agree on workflows: names, inputs, messages, ids,
 * search attributes and failure types. Deterministic and dependency-free apart from
 * @temporalio/workflow's message helpers, so both sides (and workflow bundles) may import it.
 */
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { OperationPlan as PlanOf } from '../lib/plans/plan';
import type { RebootMethod } from '../lib/plans/reboot-node.planner';
import type { UpgradeMode } from '../lib/plans/upgrade-cluster.planner';
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

export type { RebootMethod } from '../lib/plans/reboot-node.planner';

export interface RebootNodeInput extends OperationRef {
  nodeId: string;
  method: RebootMethod;
  drainOsds: boolean;
}

/** Entering maintenance mode (issue 13 #1); `powerOff`: the machine is powered off once its OSDs are stopped. */
export interface EnterMaintenanceInput extends OperationRef {
  nodeId: string;
  powerOff: boolean;
}

/** Exiting maintenance mode: everything else is read from the node's maintenance record. */
export interface ExitMaintenanceInput extends OperationRef {
  nodeId: string;
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

export type { UpgradeMode } from '../lib/plans/upgrade-cluster.planner';

export interface UpgradeClusterInput extends OperationRef {
  clusterId: string;
  targetVersion: string;
  osPackages: boolean;
  maxConcurrent: number;
  mode: UpgradeMode;
  /** The cluster's name when the upgrade was asked, for its host children's summaries (absent in older runs). */
  clusterName?: string;
  /** Upgrade around members in maintenance, leaving them as they are (issue 13 #1; absent in older runs). */
  skipMaintenance?: boolean;
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
  /**
   * OSDs of hosts in maintenance the upgrade goes around (skip_maintenance): they stay down, so the
   * host's last gate waits for PGs settled rather than clean. Absent in older runs and without skips.
   */
  allowDownOsds?: number[];
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

export interface ReplaceOsdInput extends OperationRef {
  clusterId: string;
  osdId: number;
  /** Kernel name of the new device on the OSD's host, or null: the same slot (the OSD's device name). */
  device: string | null;
}

/** Adding hosts to a running cluster (issue 13 item 3); the node ids are the operation's params. */
export interface ExpandClusterInput extends OperationRef {
  clusterId: string;
  nodeIds: string[];
  /** The bound on objects misplaced by one weight step (target_max_misplaced_ratio). */
  maxMisplacedRatio: number;
}

/** cluster.shrink (workflows/remove-host.workflow.ts): the member node whose host leaves the cluster. */
export interface RemoveHostInput extends OperationRef {
  clusterId: string;
  nodeId: string;
}

export interface PoolOperationInput extends OperationRef {
  clusterId: string;
  poolId: string;
}

// ---- The cluster monitor (workflows/monitor-cluster.workflow.ts) --------------------------------

export const MONITOR_WORKFLOW_TYPE = 'monitorClusterWorkflow';

export interface MonitorClusterInput {
  clusterId: string;
  /** Time between rounds (config NF_MONITOR_INTERVAL_MS). */
  intervalMs: number;
  /** Rounds per run before continue-as-new (config NF_MONITOR_ROUNDS_PER_RUN): bounded history. */
  roundsPerRun: number;
}

export interface MonitorClusterResult {
  rounds: number;
  ended: 'cluster_deleted';
}

/** One monitor per cluster: its workflow id is derived from the cluster id. */
export function monitorWorkflowId(clusterId: string): string {
  return `${clusterId}/monitor`;
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

// The plan's shape is the planners' own (lib/plans/plan.ts); here its type is an operation type.
export type { PlanRefusal, PlanStep } from '../lib/plans/plan';
export type OperationPlan = PlanOf<OperationType>;

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
/** Names for the Web UI's list columns (ids change never, names may): set when a workflow starts. */
export const SA_CLUSTER_NAME = defineSearchAttributeKey('NfClusterName', 'KEYWORD');
export const SA_HOSTNAMES = defineSearchAttributeKey('NfHostnames', 'KEYWORD_LIST');

/** `name=Type` pairs for `temporal server start-dev --search-attribute`. */
export const SEARCH_ATTRIBUTE_DEFINITIONS = [
  'NfOperationId=Keyword',
  'NfOperationType=Keyword',
  'NfClusterId=Keyword',
  'NfNodeId=Keyword',
  'NfAccountId=Keyword',
  'NfClusterName=Keyword',
  'NfHostnames=KeywordList',
] as const;

// ---- Failure types (ApplicationFailure.type); the operation's error.code is the same string ------
// Defined in lib/failures.ts (no imports, so drivers and activities share it without importing workflows).

export { FAILURE, NON_RETRYABLE, type FailureType } from '../lib/failures';

/** Issue 11: the webhook dispatcher (a Temporal Schedule starts it) and one delivery's workflow. */
export const WEBHOOK_DISPATCH_WORKFLOW_TYPE = 'dispatchWebhooksWorkflow';
export const WEBHOOK_DELIVERY_WORKFLOW_TYPE = 'deliverWebhookWorkflow';

export function webhookDispatchScheduleId(taskQueue: string): string {
  return `nodefoundry-webhooks/${taskQueue}`;
}
