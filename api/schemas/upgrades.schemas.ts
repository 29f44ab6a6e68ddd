import type { JSONSchemaType } from 'ajv';
import { idPattern } from '../../lib/ids';
import { SANDBOX_CLUSTER_FAULTS, type SandboxClusterFault } from '../../drivers/sandbox';
import { CEPH_RELEASES } from '../../lib/ceph-releases';
import { dataResponseSchema } from './common.schemas';

export const MAX_UPGRADE_CONCURRENCY = 100;

export interface UpgradeClusterBody {
  ceph_version?: string;
  os_packages: boolean;
  max_concurrent: number;
  mode: 'upgrade' | 'restart';
  skip_maintenance: boolean;
}

export const upgradeClusterBodySchema: JSONSchemaType<UpgradeClusterBody> = {
  type: 'object',
  properties: {
    ceph_version: {
      type: 'string',
      nullable: true,
      maxLength: 32,
      pattern: `^(${CEPH_RELEASES.join('|')}|\\d{1,3}\\.\\d{1,3}\\.\\d{1,4})$`,
      description:
        'Target Ceph release ("squid") or version ("19.2.2"). Default: the release after the one the cluster runs (the supported step). Not allowed to differ from the running release with `mode: "restart"`.',
    },
    os_packages: {
      type: 'boolean',
      default: false,
      description: 'Also upgrade OS packages on every host (each host is rebooted when they need it).',
    },
    max_concurrent: {
      type: 'integer',
      minimum: 1,
      maximum: MAX_UPGRADE_CONCURRENCY,
      default: 1,
      description:
        'OSD hosts upgraded at once. Batches also shrink until `ceph osd ok-to-stop` accepts them, and hold at most one mon host.',
    },
    mode: {
      type: 'string',
      enum: ['upgrade', 'restart'],
      default: 'upgrade',
      description:
        '`upgrade`: move every daemon to `ceph_version`. `restart`: a rolling restart at the running version, with the same order and gates.',
    },
    skip_maintenance: {
      type: 'boolean',
      default: false,
      description:
        'Upgrade around the members in maintenance: their mgr, mon and OSDs are left as they are, and the upgrade ends without `ceph osd require-osd-release` (they still run the old release; upgrade again once their maintenance ends). Without it, a member in maintenance refuses the upgrade (409 `node_in_maintenance`). A member in maintenance whose mon is out of quorum (powered off) still refuses it.',
    },
  },
  required: [],
  additionalProperties: false,
};

export const upgradeAcceptedResponseSchema = dataResponseSchema({
  type: 'object',
  required: ['operation_id', 'cluster_id', 'status'],
  properties: {
    operation_id: { type: 'string', pattern: idPattern('operation') },
    cluster_id: { type: 'string', pattern: idPattern('cluster') },
    status: { type: 'string', enum: ['pending'] },
  },
});

export interface PauseBody {
  reason?: string;
}

export const pauseBodySchema: JSONSchemaType<PauseBody> = {
  type: 'object',
  properties: {
    reason: {
      type: 'string',
      nullable: true,
      minLength: 1,
      maxLength: 500,
      description: 'Shown on the operation while it is paused.',
    },
  },
  required: [],
  additionalProperties: false,
};

export interface SetClusterFaultsBody {
  faults: Record<SandboxClusterFault, boolean>;
}

/** PUT /v1/sandbox/clusters/{id}/faults: the complete set of cluster-level faults. */
export const setClusterFaultsBodySchema: JSONSchemaType<SetClusterFaultsBody> = {
  type: 'object',
  properties: {
    faults: {
      type: 'object',
      description: 'Each known cluster fault on (true) or off (false or absent). `{}` clears them all.',
      properties: Object.fromEntries(
        SANDBOX_CLUSTER_FAULTS.map((f) => [
          f,
          {
            type: 'boolean',
            default: false,
            description:
              'The simulated cluster reports HEALTH_ERR (an upgrade refuses to start, and pauses at its next safe point).',
          },
        ]),
      ) as unknown as JSONSchemaType<SetClusterFaultsBody>['properties']['faults']['properties'],
      required: [],
      additionalProperties: false,
    },
  },
  required: ['faults'],
  additionalProperties: false,
};

export const sandboxClusterResponseSchema = dataResponseSchema({
  type: 'object',
  required: ['cluster_id', 'faults'],
  properties: {
    cluster_id: { type: 'string', pattern: idPattern('cluster') },
    faults: { type: 'array', items: { type: 'string', enum: [...SANDBOX_CLUSTER_FAULTS] } },
  },
});
