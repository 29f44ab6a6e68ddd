#!/usr/bin/env node
// `npx nodefoundry …`: the admin CLI (scripts/cli.ts). The package runs its TypeScript with tsx
// (a runtime dependency), registered here in-process: no second Node process, so stdout, stderr
// and the exit code are the CLI's own.
'use strict';

const path = require('node:path');

const root = path.resolve(__dirname, '..');
let tsx;
try {
  // Resolved from this package, not from the caller's working directory.
  tsx = require(require.resolve('tsx/cjs/api', { paths: [root] }));
} catch {
  process.stderr.write(`nodefoundry: tsx is not installed in ${root}; run \`npm ci\` there first\n`);
  process.exit(1);
}

const api = tsx.register({ namespace: 'nodefoundry-cli' });
const { main } = api.require('../scripts/cli.ts', path.join(root, 'bin', 'nodefoundry.cjs'));
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`nodefoundry: ${err && err.stack ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  },
);
