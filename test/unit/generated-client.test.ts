import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { GENERATED_CLIENT_PATH, generateClientTypes } from '../../scripts/gen-client';

/**
 * Issue 12 item 2: the typed client's types (lib/client/openapi.ts) are generated from the API's own
 * OpenAPI document and committed. Regenerating must give the committed file byte for byte: a route,
 * schema or example changed without `npm run gen:client` fails here (and the API tests and the CLI,
 * which use the client, are type-checked against the committed types).
 */
describe('generated API client', () => {
  it('lib/client/openapi.ts is what `npm run gen:client` generates from the current document', async () => {
    const [committed, generated] = await Promise.all([readFile(GENERATED_CLIENT_PATH, 'utf8'), generateClientTypes()]);
    if (committed !== generated) {
      const a = committed.split('\n');
      const b = generated.split('\n');
      const at = a.findIndex((line, i) => line !== b[i]);
      expect.fail(
        `lib/client/openapi.ts is stale: run \`npm run gen:client\` and commit it (first difference at line ${at + 1}: ` +
          `committed ${JSON.stringify(a[at])}, generated ${JSON.stringify(b[at])})`,
      );
    }
    expect(generated).toContain('"/v1/operations/{id}"');
  });
});
