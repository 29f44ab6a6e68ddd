#!/usr/bin/env bash
# `npm start`: installs what is missing (npm dependencies, the Temporal CLI), then runs
# scripts/start.ts, which starts Temporal, PostgreSQL (embedded unless DATABASE_URL is set),
# the worker and the API. See docs/development.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -d node_modules ]]; then
  echo "nodefoundry: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi

# With TEMPORAL_ADDRESS set, an existing Temporal server is used and the CLI is not needed.
if [[ -z "${TEMPORAL_ADDRESS:-}" ]]; then
  NF_TEMPORAL_BIN="$(bash scripts/ensure-temporal.sh)"
  export NF_TEMPORAL_BIN
fi

# node with tsx's loader (rather than the tsx CLI, which adds a supervising process): signals
# reach scripts/start.ts directly, and it shuts everything down in order.
exec node --import tsx scripts/start.ts "$@"
