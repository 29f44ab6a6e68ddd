/**
 * The static summary and details every NodeFoundry workflow is started with (Temporal's user
 * metadata: the Web UI shows the summary in the workflow list and on the workflow's page, the
 * details on its page). A summary names the operation, the cluster by its NAME and the hosts by
 * their hostnames, so an operator scanning the list knows what each workflow is about without
 * opening it (issue 12 item 7); the details repeat every name with its id, for search.
 *
 * Pure functions: the callers read the names (api/services, activities) and pass them in.
 */

/**
 * Longest summary sent: a summary is one line read at a glance (Temporal's docs: summaries are
 * single-line). The server's own cap is configurable (the dev server took 5 000 characters when
 * tried), so this is the bound, not the server.
 */
export const SUMMARY_MAX_CHARS = 200;
/** Longest details sent: the names and ids of a 200-host cluster (about 9 000 characters) fit; more is cut with an ellipsis. */
export const DETAILS_MAX_CHARS = 16_000;

/**
 * `storage-01, storage-02, storage-03`, or `storage-01, storage-02 and 5 more` when the list
 * would make the summary longer than `budget` characters. Always names at least one host.
 */
export function hostList(hosts: readonly string[], budget = 120): string {
  if (hosts.length === 0) return 'no hosts';
  const all = hosts.join(', ');
  if (all.length <= budget) return all;
  for (let n = hosts.length - 1; n >= 1; n--) {
    const text = `${hosts.slice(0, n).join(', ')} and ${hosts.length - n} more`;
    if (text.length <= budget || n === 1) return text;
  }
  return all; // unreachable: n === 1 returns
}

/** The summary, cut to SUMMARY_MAX_CHARS (an ellipsis says it was cut). */
export function clipSummary(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return [...oneLine].length <= SUMMARY_MAX_CHARS
    ? oneLine
    : [...oneLine].slice(0, SUMMARY_MAX_CHARS - 1).join('') + '…';
}

/** `the hosts of a summary: <list>` in the budget left after `head`. */
export function withHosts(head: string, hosts: readonly string[]): string {
  if (hosts.length === 0) return clipSummary(head);
  const budget = Math.max(24, SUMMARY_MAX_CHARS - head.length - 2);
  return clipSummary(`${head}: ${hostList(hosts, budget)}`);
}

export interface DetailsInput {
  /** e.g. `NodeFoundry operation op_… (cluster.upgrade)`. */
  title: string;
  cluster?: { id: string; name: string } | null;
  hosts?: readonly { id: string; hostname: string }[];
  /** Further `label: value` lines (request id, interval, …). */
  lines?: readonly string[];
}

/** Markdown details: what the summary says, with every id (the Web UI renders them as Markdown). */
export function workflowDetails(d: DetailsInput): string {
  const out = [d.title, ''];
  if (d.cluster) out.push(`- cluster: ${d.cluster.name} (${d.cluster.id})`);
  if (d.hosts && d.hosts.length > 0) {
    out.push(`- hosts: ${d.hosts.map((h) => `${h.hostname} (${h.id})`).join(', ')}`);
  }
  for (const l of d.lines ?? []) out.push(`- ${l}`);
  const text = out.join('\n').trim();
  return text.length <= DETAILS_MAX_CHARS ? text : text.slice(0, DETAILS_MAX_CHARS - 1) + '…';
}

/**
 * The hostnames for the NfHostnames search attribute. Temporal refuses a start whose search attribute
 * value is over 2 KB (`limit.searchAttributesSizeOfValue`; a 200-host upgrade's hostnames pass it):
 * the first hostnames whose JSON array stays within 1,500 bytes.
 */
export const HOSTNAMES_ATTRIBUTE_MAX_BYTES = 1_500;

export function boundedHostnames(hosts: readonly { hostname: string }[]): string[] {
  const out: string[] = [];
  let bytes = 2; // the brackets
  for (const { hostname } of hosts) {
    const more = new TextEncoder().encode(JSON.stringify(hostname)).length + 1; // and a comma
    if (bytes + more > HOSTNAMES_ATTRIBUTE_MAX_BYTES) break;
    out.push(hostname);
    bytes += more;
  }
  return out;
}
