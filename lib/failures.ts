/**
 * The failure vocabulary: `ApplicationFailure.type` strings, and the operation's `error.code` is the
 * same string. Plain data with no imports, so every layer can use it — drivers classify their errors
 * with it, activities turn them into failures, workflows (through workflows/contracts.ts) and the API
 * read them — the way the TypeScript SDK keeps ApplicationFailure in @temporalio/common, apart from
 * the workflow runtime.
 */

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
  /** Pool creation: the cluster has no erasure code profile of the requested name (issue 12 #4). Never retried. */
  erasureProfileNotFound: 'erasure_profile_not_found',
  /** A Redfish BMC presents a TLS certificate other than the one pinned at registration (issue 13 #5). Never retried. */
  bmcCertificateMismatch: 'bmc_certificate_mismatch',
  /**
   * The BMC answered a power-state read with an error or a state that is neither on nor off
   * (issue 13 #5): the state is unknown, never taken for "off". Retried; a wait ends with its timeout.
   */
  bmcPowerUnknown: 'bmc_power_unknown',
  /** The node is in maintenance mode (issue 13 #1): new work refuses it. Never retried. */
  nodeInMaintenance: 'node_in_maintenance',
  /**
   * A command printed more than the limit its read allows (issue 14): the output is dropped, never
   * parsed cut. Retried like a transient failure (the read is sized for 5,000 OSDs with headroom, so a
   * second answer usually fits; if not, the activity's retries end it with this code).
   */
  outputTruncated: 'output_truncated',
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
  FAILURE.bmcCertificateMismatch,
  FAILURE.nodeInMaintenance,
];
