/**
 * Node statuses in the seed's vocabulary (SPEC §2; db/database.ts NODE_STATUSES): a member serving in
 * its cluster is `online`. Until issue 11 that status was called `active` (migration
 * 2026-12-05-0004-node-online renamed every row). Workflow-side code (the planners in lib/plans run
 * inside workflows) compares statuses read from activity results, and recorded histories carry
 * `active` in those results: this helper accepts both so that old histories replay unchanged. New
 * code writes only `online`.
 */
export function isServing(status: string | null | undefined): boolean {
  return status === 'online' || status === 'active';
}
