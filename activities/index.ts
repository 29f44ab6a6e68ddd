import type { ActivityDeps } from './deps';
import { createCephActivities } from './ceph.activities';
import { createClusterActivities } from './clusters.activities';
import { createExpandActivities } from './expand.activities';
import { createImportActivities } from './import.activities';
import { createLifecycleActivities } from './lifecycle.activities';
import { createMonitorActivities } from './monitor.activities';
import { createNodeActivities } from './nodes.activities';
import { createOperationActivities } from './operations.activities';
import { createPoolActivities } from './pools.activities';
import { createPowerActivities } from './power.activities';
import { createRemoveHostActivities } from './remove-host.activities';
import { createReweightActivities } from './reweight.activities';
import { createReplaceActivities } from './replace.activities';
import { createSettleActivities } from './settle.activities';
import { createUpgradeActivities } from './upgrade.activities';
import { createWebhookActivities } from './webhooks.activities';

/** All activities, built from injected dependencies (STYLE 5). Workflows import only the type. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createOperationActivities(deps),
    ...createNodeActivities(deps),
    ...createPowerActivities(deps),
    ...createCephActivities(deps),
    ...createClusterActivities(deps),
    ...createReweightActivities(deps),
    ...createReplaceActivities(deps),
    ...createLifecycleActivities(deps),
    ...createImportActivities(deps),
    ...createPoolActivities(deps),
    ...createUpgradeActivities(deps),
    ...createSettleActivities(deps),
    ...createWebhookActivities(deps),
    ...createMonitorActivities(deps),
    ...createExpandActivities(deps),
    ...createRemoveHostActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ActivityDeps } from './deps';
