#!/usr/bin/env bash
# `npm run bench`: the speed targets (bench/*.bench.ts, targets in bench/targets.ts) against a real
# PostgreSQL and a real Temporal dev server, prepared as for `npm test` (scripts/test.sh). Not part
# of `npm test`: tests assert behaviour, benchmarks assert time. Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -d node_modules ]]; then npm ci --no-audit --no-fund; fi
if [[ -z "${TEMPORAL_ADDRESS:-}" ]]; then
  NF_TEMPORAL_BIN="$(bash scripts/ensure-temporal.sh)"
  export NF_TEMPORAL_BIN
fi
if [[ -z "${DATABASE_URL:-}" ]]; then
  DATABASE_URL="$(bash scripts/ensure-postgres.sh)"
  export DATABASE_URL
fi
# bench/topology.bench.ts runs the production topology (scripts/topology/up.sh, down.sh in its
# beforeAll/afterAll): the Temporal server, its SQL tool and UI are built here when missing (once,
# cached outside the repository), so that the build is not part of a bench's time.
bash scripts/topology/ensure-temporal-server.sh >/dev/null
exec npx --no-install vitest run --config bench/vitest.config.ts "$@"
