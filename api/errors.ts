/**
 * The one API error (STYLE 9): a closed set of codes, each with its HTTP status. The error middleware
 * turns an ApiError into the seed's error shape; anything else becomes a 500 without internals.
 */
export const ERROR_STATUS = {
  validation_error: 400,
  invalid_json: 400,
  confirmation_required: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  route_not_found: 404,
  node_not_found: 404,
  cluster_not_found: 404,
  osd_not_found: 404,
  pool_not_found: 404,
  operation_not_found: 404,
  api_key_not_found: 404,
  sandbox_machine_not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  resource_busy: 409,
  name_taken: 409,
  node_in_cluster: 409,
  insufficient_failure_domains: 409,
  address_in_use: 409,
  invalid_state: 409,
  node_held: 409,
  idempotency_key_reused: 409,
  idempotency_in_progress: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal_error: 500,
  service_unavailable: 503,
  /** A live node's address that must not be contacted (loopback, link-local, metadata, …): issue 8 #9. */
  address_not_allowed: 400,
  /** Issue 11: a webhook of another account, or none. */
  webhook_not_found: 404,
  /** Issue 12 #4: Ceph says the node's OSDs are not ok to stop (asked as the dry run asks). */
  not_ok_to_stop: 409,
  /** Issue 13 #1: the node is in maintenance mode; new work refuses it (exit maintenance first). */
  node_in_maintenance: 409,
  /** Issue 13 #2: a failed OSD whose PGs have no complete copy elsewhere yet (`ceph osd safe-to-destroy`). */
  not_safe_to_destroy: 409,
  /** Issue 13 #2: the replacement device is not on the OSD's host or holds something. */
  device_not_available: 409,
  /** Issue 13 #4: the remaining hosts cannot hold the cluster's data below nearfull (figures in the message). */
  insufficient_capacity: 409,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra, non-sensitive fields for the body (e.g. `field`, `operation_id`). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }
}
