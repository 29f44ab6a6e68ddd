import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';

/**
 * Every text in a workflow history with payload bytes decoded, so a secret cannot hide in base64 or
 * byte arrays. Depending on how the history was obtained, payload `data` is a Uint8Array, a Node
 * Buffer's JSON form, or (protobufjs toJSON) a base64 string; all three are decoded.
 */
export function historyText(history: unknown): string {
  return JSON.stringify(history, (k, v: unknown) => {
    if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
    if (
      v &&
      typeof v === 'object' &&
      (v as { type?: unknown }).type === 'Buffer' &&
      Array.isArray((v as { data?: unknown }).data)
    ) {
      return Buffer.from((v as { data: number[] }).data).toString('utf8');
    }
    if ((k === 'data' || k === 'encoding') && typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v)) {
      return Buffer.from(v, 'base64').toString('utf8');
    }
    return v;
  });
}

/**
 * Saves a workflow's history as test/replay/histories/<name>.json when NF_RECORD_HISTORIES=1 (the
 * way new replay histories are recorded: docs/development.md), and does nothing otherwise.
 */
export async function recordHistory(client: Client, workflowId: string, name: string, runId?: string): Promise<void> {
  if (process.env.NF_RECORD_HISTORIES !== '1') return;
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const dir = path.resolve(__dirname, '../replay/histories');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, `${name}.json`), JSON.stringify(JSON.parse(historyToJSON(history)), null, 1));
}
