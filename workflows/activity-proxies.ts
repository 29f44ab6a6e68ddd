import {
  ActivityCancellationType,
  proxyActivities,
  proxyLocalActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  boundedPowerCommand,
  boundedWait,
  compensation,
  dbWrite,
  hardwareCommand,
  localConfigRead,
  longHardwareCommand,
  monitorRound,
  planRead,
  powerRestore,
  powerWaitCompensation,
  settleOne,
  unsettledScan,
  webhookPost,
  webhookPostWith,
  webhookScan,
  type WebhookRetry,
} from './activity-options';

/** Activity `name`, always scheduled with `options`. */
function under<K extends keyof Activities>(options: ActivityOptions, name: K) {
  return proxyActivities<Activities>(options)[name];
}

/**
 * Every activity the workflows call, each next to its timeout and retry preset (activity-options.ts):
 * a call site names the activity and never chooses options. An activity that runs under two presets
 * has one entry per preset, named for its role: `…Undo` in compensation, `…ForPlan` in a dry run,
 * `powerCommandBounded` where a dead BMC must say so within seconds. The Temporal activity type is
 * always the activity's own name (the second argument), whatever the entry is called.
 */
export const act = {
  // monitorRound: the cluster monitor's round (bounded; the next round is the retry).
  monitorCluster: under(monitorRound, 'monitorCluster'),
  // dbWrite: bookkeeping in PostgreSQL.
  deletePoolRow: under(dbWrite, 'deletePoolRow'),
  describeClusterCreate: under(dbWrite, 'describeClusterCreate'),
  describeClusterExpand: under(dbWrite, 'describeClusterExpand'),
  describeClusterDelete: under(dbWrite, 'describeClusterDelete'),
  describeCreateRequest: under(dbWrite, 'describeCreateRequest'),
  describeImport: under(dbWrite, 'describeImport'),
  describeNode: under(dbWrite, 'describeNode'),
  describeMaintenance: under(dbWrite, 'describeMaintenance'),
  recordMaintenance: under(dbWrite, 'recordMaintenance'),
  clearMaintenance: under(dbWrite, 'clearMaintenance'),
  describePool: under(dbWrite, 'describePool'),
  describePoolCluster: under(dbWrite, 'describePoolCluster'),
  finishClusterDelete: under(dbWrite, 'finishClusterDelete'),
  finishOperation: under(dbWrite, 'finishOperation'),
  markNodesActive: under(dbWrite, 'markNodesActive'),
  markNodesProvisioning: under(dbWrite, 'markNodesProvisioning'),
  markOperationStarted: under(dbWrite, 'markOperationStarted'),
  recordClusterVersion: under(dbWrite, 'recordClusterVersion'),
  recordImportedCluster: under(dbWrite, 'recordImportedCluster'),
  refreshClusterState: under(dbWrite, 'refreshClusterState'),
  releaseRemovedNode: under(dbWrite, 'releaseRemovedNode'),
  setClusterStatus: under(dbWrite, 'setClusterStatus'),
  setNodeStatus: under(dbWrite, 'setNodeStatus'),
  setOperationPaused: under(dbWrite, 'setOperationPaused'),
  setPoolRow: under(dbWrite, 'setPoolRow'),
  setPoolShape: under(dbWrite, 'setPoolShape'),
  settleExpandNodes: under(dbWrite, 'settleExpandNodes'),
  // hardwareCommand: one command to a BMC, a host or Ceph.
  addClusterHost: under(hardwareCommand, 'addClusterHost'),
  addExpandHost: under(hardwareCommand, 'addExpandHost'),
  createZeroWeightOsd: under(hardwareCommand, 'createZeroWeightOsd'),
  assertMonOkToStop: under(hardwareCommand, 'assertMonOkToStop'),
  assertNotHealthErr: under(hardwareCommand, 'assertNotHealthErr'),
  assertOkToStop: under(hardwareCommand, 'assertOkToStop'),
  assertSafeToDestroy: under(hardwareCommand, 'assertSafeToDestroy'),
  checkBmc: under(hardwareCommand, 'checkBmc'),
  checkOkToStop: under(hardwareCommand, 'checkOkToStop'),
  okToStopPrefix: under(hardwareCommand, 'okToStopPrefix'),
  createCephPool: under(hardwareCommand, 'createCephPool'),
  createClusterCrushRule: under(hardwareCommand, 'createClusterCrushRule'),
  createClusterOsd: under(hardwareCommand, 'createClusterOsd'),
  deleteCephPool: under(hardwareCommand, 'deleteCephPool'),
  describeUpgrade: under(hardwareCommand, 'describeUpgrade'),
  discoverCluster: under(hardwareCommand, 'discoverCluster'),
  enablePoolApplication: under(hardwareCommand, 'enablePoolApplication'),
  finishUpgrade: under(hardwareCommand, 'finishUpgrade'),
  ensureErasureProfile: under(hardwareCommand, 'ensureErasureProfile'),
  readErasureProfile: under(hardwareCommand, 'readErasureProfile'),
  freezeAutoscale: under(hardwareCommand, 'freezeAutoscale'),
  hostDevices: under(hardwareCommand, 'hostDevices'),
  hostHasNoout: under(hardwareCommand, 'hostHasNoout'),
  hostOsds: under(hardwareCommand, 'hostOsds'),
  inventoryNode: under(hardwareCommand, 'inventoryNode'),
  powerCommand: under(hardwareCommand, 'powerCommand'),
  purgeClusterCeph: under(hardwareCommand, 'purgeClusterCeph'),
  readReweightFacts: under(hardwareCommand, 'readReweightFacts'),
  readReplaceFacts: under(hardwareCommand, 'readReplaceFacts'),
  destroyOsd: under(hardwareCommand, 'destroyOsd'),
  recordReplacedOsd: under(hardwareCommand, 'recordReplacedOsd'),
  readRemoveHostFacts: under(hardwareCommand, 'readRemoveHostFacts'),
  removeHostFromCrush: under(hardwareCommand, 'removeHostFromCrush'),
  setCephPool: under(hardwareCommand, 'setCephPool'),
  setCrushWeight: under(hardwareCommand, 'setCrushWeight'),
  setHostNoout: under(hardwareCommand, 'setHostNoout'),
  startOsds: under(hardwareCommand, 'startOsds'),
  startOsdsAfterUpgrade: under(hardwareCommand, 'startOsdsAfterUpgrade'),
  unsetHostNoout: under(hardwareCommand, 'unsetHostNoout'),
  verifyCephPool: under(hardwareCommand, 'verifyCephPool'),
  verifyHostVersion: under(hardwareCommand, 'verifyHostVersion'),
  // longHardwareCommand: a hardware command that legitimately runs for long (bootstrap, rm-cluster, zap).
  bootstrapCluster: under(longHardwareCommand, 'bootstrapCluster'),
  stopClusterHost: under(longHardwareCommand, 'stopClusterHost'),
  zapClusterHost: under(longHardwareCommand, 'zapClusterHost'),
  recreateOsd: under(longHardwareCommand, 'recreateOsd'),
  purgeHostOsds: under(longHardwareCommand, 'purgeHostOsds'),
  // boundedPowerCommand: a power command whose failure someone must hear about soon. A failed host
  // pauses the whole upgrade and an operator decides; compensation's power-on holds noout behind it:
  // a dead BMC must say so in seconds.
  powerCommandBounded: under(boundedPowerCommand, 'powerCommand'),
  // boundedWait: bounded waits: they poll, heartbeat and give up at their own configured bound.
  failOverMgr: under(boundedWait, 'failOverMgr'),
  placeClusterDaemons: under(boundedWait, 'placeClusterDaemons'),
  placeDaemonsAndWait: under(boundedWait, 'placeDaemonsAndWait'),
  // A host removal's placement: a cancel waits until the activity has really stopped (it notices at
  // its next heartbeat, within the heartbeat throttle), so the compensation that puts the daemons
  // back never runs beside a placement still moving them (docs/shrink.md).
  placeDaemonsAndWaitToEnd: under(
    { ...boundedWait, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED },
    'placeDaemonsAndWait',
  ),
  // The mons/mgrs of a cancelled host removal put back: a bounded wait in compensation too.
  placeDaemonsAndWaitUndo: under(boundedWait, 'placeDaemonsAndWait'),
  redeployCephDaemon: under(boundedWait, 'redeployCephDaemon'),
  stopOsds: under(boundedWait, 'stopOsds'),
  stopOsdsForUpgrade: under(boundedWait, 'stopOsdsForUpgrade'),
  upgradeHostPackages: under(boundedWait, 'upgradeHostPackages'),
  waitClusterReady: under(boundedWait, 'waitClusterReady'),
  waitForOsdsUp: under(boundedWait, 'waitForOsdsUp'),
  waitForPgsClean: under(boundedWait, 'waitForPgsClean'),
  waitForPower: under(boundedWait, 'waitForPower'),
  waitForSsh: under(boundedWait, 'waitForSsh'),
  watchBackfill: under(boundedWait, 'watchBackfill'),
  // compensation: compensation (and the upgrade's restore of PG autoscaling): it must happen, so it is retried far longer.
  clearHostNoout: under(compensation, 'clearHostNoout'),
  deletePoolRowUndo: under(compensation, 'deletePoolRow'),
  describeClusterDeleteUndo: under(compensation, 'describeClusterDelete'),
  failClusterCreate: under(compensation, 'failClusterCreate'),
  powerCommandUndo: under(compensation, 'powerCommand'),
  refreshClusterStateUndo: under(compensation, 'refreshClusterState'),
  releaseAutoscale: under(compensation, 'releaseAutoscale'),
  setClusterStatusUndo: under(compensation, 'setClusterStatus'),
  setCrushWeightUndo: under(compensation, 'setCrushWeight'),
  settleExpandNodesUndo: under(compensation, 'settleExpandNodes'),
  setNodeStatusUndo: under(compensation, 'setNodeStatus'),
  setPoolRowUndo: under(compensation, 'setPoolRow'),
  startOsdsAfterUpgradeUndo: under(compensation, 'startOsdsAfterUpgrade'),
  startOsdsUndo: under(compensation, 'startOsds'),
  undoClusterImport: under(compensation, 'undoClusterImport'),
  unsetHostNooutUndo: under(compensation, 'unsetHostNoout'),
  // powerWaitCompensation: the wait for a machine to come back on in compensation.
  waitForPowerUndo: under(powerWaitCompensation, 'waitForPower'),
  // powerRestore: compensation that makes sure a machine ends up on after a power-off was sent.
  ensurePoweredOn: under(powerRestore, 'ensurePoweredOn'),
  // planRead: reads for a dry run (plan-operation): the client is waiting.
  checkOkToStopForPlan: under(planRead, 'checkOkToStop'),
  describeClusterCreateForPlan: under(planRead, 'describeClusterCreate'),
  describeClusterDeleteForPlan: under(planRead, 'describeClusterDelete'),
  describeClusterExpandForPlan: under(planRead, 'describeClusterExpand'),
  describeNodeForPlan: under(planRead, 'describeNode'),
  describeMaintenanceForPlan: under(planRead, 'describeMaintenance'),
  describeUpgradeForPlan: under(planRead, 'describeUpgrade'),
  hostOsdsForPlan: under(planRead, 'hostOsds'),
  readReweightFactsForPlan: under(planRead, 'readReweightFacts'),
  readReplaceFactsForPlan: under(planRead, 'readReplaceFacts'),
  readRemoveHostFactsForPlan: under(planRead, 'readRemoveHostFacts'),
  // unsettledScan: the settler's scan for operations left unsettled.
  findUnsettledOperations: under(unsettledScan, 'findUnsettledOperations'),
  // settleOne: the settler's repair of one operation.
  settleOperation: under(settleOne, 'settleOperation'),
  // webhookScan / webhookPost: the webhook dispatcher and one delivery (issue 11).
  findUndispatchedDeliveries: under(webhookScan, 'findUndispatchedDeliveries'),
  findUndispatchedDeliveriesNamed: under(webhookScan, 'findUndispatchedDeliveriesNamed'),
  markDeliveriesDispatched: under(webhookScan, 'markDeliveriesDispatched'),
  failWebhookDelivery: under(webhookScan, 'failWebhookDelivery'),
  deliverWebhook: under(webhookPost, 'deliverWebhook'),
  // localConfigRead: the configuration read by a workflow, as a local activity.
  waitBounds: proxyLocalActivities<Activities>(localConfigRead).waitBounds,
};

/**
 * deliverWebhook under webhookPost with the configured retry schedule (NF_WEBHOOK_RETRY_*) that the
 * dispatcher passed to the delivery: the one activity whose retry is configuration, not a preset.
 */
export function deliverWebhookRetrying(retry: WebhookRetry) {
  return under(webhookPostWith(retry), 'deliverWebhook');
}
