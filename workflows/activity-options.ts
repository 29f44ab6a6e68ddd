import type { ActivityOptions } from '@temporalio/workflow';
import { FAILURE, NON_RETRYABLE } from './contracts';

/**
 * Named timeout and retry presets (STYLE 6). Each activity is bound to its preset once, in
 * activity-proxies.ts, so the policy of each kind of work is decided once and call sites only name
 * the activity.
 */

/** Bookkeeping in PostgreSQL: short, and retried for a long time (a database restart must not fail work). */
export const dbWrite: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 30 },
};

/** One command to a BMC, a host or Ceph: retried with backoff unless the failure is permanent. */
export const hardwareCommand: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 6,
    nonRetryableErrorTypes: [...NON_RETRYABLE],
  },
};

/**
 * A hardware command that legitimately runs for long: cephadm bootstrap, cephadm rm-cluster, zapping
 * a host's devices.
 */
export const longHardwareCommand: ActivityOptions = { ...hardwareCommand, startToCloseTimeout: '30 minutes' };

/**
 * A bounded wait (power state, SSH, OSDs, PGs). The activity polls, heartbeats its progress and
 * gives up with a typed failure at its own configured bound; the heartbeat timeout is what notices
 * a dead worker quickly, so the wait resumes elsewhere.
 */
export const boundedWait: ActivityOptions = {
  startToCloseTimeout: '3 hours',
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [
      ...NON_RETRYABLE,
      FAILURE.powerTimeout,
      FAILURE.sshTimeout,
      FAILURE.osdsNotUp,
      FAILURE.pgsNotClean,
    ],
  },
};

/**
 * Compensation (unset noout, restore weights, power a machine back on): it must happen, so it is
 * retried far longer than forward progress, but still ends so that the operation can report it.
 */
export const compensation: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 40,
    nonRetryableErrorTypes: [
      FAILURE.hostKeyMismatch,
      FAILURE.bmcAuthFailed,
      FAILURE.ipmitoolMissing,
      FAILURE.nodeNotFound,
    ],
  },
};

/**
 * Compensation's wait for a machine to come back on: compensation's retries, with a bounded wait's
 * heartbeat and time to close.
 */
export const powerWaitCompensation: ActivityOptions = {
  ...compensation,
  heartbeatTimeout: '30 seconds',
  startToCloseTimeout: '3 hours',
};

/**
 * A power command whose failure someone must hear about soon: inside an upgrade (a failed host pauses
 * the upgrade and an operator decides) and when compensation powers a machine back on (noout waits
 * behind it). A dead BMC says so within seconds instead of after the compensation preset's half
 * hour; permanent failures are still never retried.
 */
export const boundedPowerCommand: ActivityOptions = {
  ...hardwareCommand,
  retry: { ...hardwareCommand.retry, initialInterval: '1 second', maximumInterval: '4 seconds', maximumAttempts: 3 },
};

/** The settler's scan for unsettled operations: heartbeating, and retried only a few times. */
export const unsettledScan: ActivityOptions = {
  ...dbWrite,
  heartbeatTimeout: '1 minute',
  startToCloseTimeout: '10 minutes',
  retry: { ...dbWrite.retry, maximumAttempts: 3 },
};

/**
 * The settler's repair of one operation: powers machines on (waiting out a soft power-off), starts
 * OSDs, unsets noout, restores weights — each bounded by the configured waits, heartbeating.
 */
export const settleOne: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 3 },
};

/** Reads for a dry run: the client is waiting, so fail fast and say why rather than retry for long. */
export const planRead: ActivityOptions = {
  startToCloseTimeout: '20 seconds',
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumAttempts: 2,
    nonRetryableErrorTypes: [...NON_RETRYABLE],
  },
};

/**
 * Makes sure a machine ends up on after a power-off was sent (compensation): waits for the off to
 * complete, then powers on and waits for on, heartbeating throughout. Retried a few times only, like
 * boundedPowerCommand: with the BMC gone, noout and the operator's answer wait behind it.
 */
export const powerRestore: ActivityOptions = {
  startToCloseTimeout: '3 hours',
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '4 seconds',
    maximumAttempts: 3,
    nonRetryableErrorTypes: [...NON_RETRYABLE, FAILURE.powerTimeout],
  },
};

/** The configuration read by a workflow (a local activity): a fast answer from the worker itself. */
export const localConfigRead: ActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 10 },
};

/**
 * What the server allows a wait beyond its own configured bound, in total over its attempts: one
 * lost worker noticed by the 30 s heartbeat timeout, the retry's backoff, and the resumed attempt
 * finishing its last rounds. A wait that outlives it fails server-side, whatever the worker does.
 */
export const SERVER_BOUND_MARGIN_MS = 2 * 60_000;

/** The webhook dispatcher's scan and bookkeeping (issue 11). */
export const webhookScan: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 3 },
};

/**
 * One POST of a webhook delivery: each attempt bounded (the activity's own request timeout is below
 * startToClose), retried with backoff by Temporal, at most 8 attempts over about 4 minutes; a receiver
 * that answers 4xx/5xx, hangs or redirects is retried the same way. Then the delivery is `failed`.
 */
export const webhookPost: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8 },
};

/** A delivery's retry schedule from configuration (NF_WEBHOOK_RETRY_*, lib/config.ts), in milliseconds. */
export interface WebhookRetry {
  initialIntervalMs: number;
  maximumIntervalMs: number;
  maximumAttempts: number;
}

/** webhookPost with the configured retry schedule the dispatcher passed to the delivery. */
export function webhookPostWith(retry: WebhookRetry): ActivityOptions {
  return {
    ...webhookPost,
    retry: {
      ...webhookPost.retry,
      initialInterval: retry.initialIntervalMs,
      maximumInterval: Math.max(retry.maximumIntervalMs, retry.initialIntervalMs),
      maximumAttempts: retry.maximumAttempts,
    },
  };
}

/**
 * One round of the cluster monitor: a few reads of Ceph and one transaction. Short and few attempts:
 * the next round (one interval later) is the real retry, and a round must never outlast its interval by much.
 */
export const monitorRound: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '5 seconds',
    maximumAttempts: 2,
    nonRetryableErrorTypes: [...NON_RETRYABLE],
  },
};
