#!/usr/bin/env bash
# `npm run chaos`: finds or builds the Temporal CLI and prepares PostgreSQL like `npm test` does,
# then runs the fault-injection suite (scripts/chaos/main.ts; options after `--`).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -z "${NF_TEMPORAL_BIN:-}" ]]; then
  NF_TEMPORAL_BIN="$(bash scripts/ensure-temporal.sh)"
  export NF_TEMPORAL_BIN
fi
if [[ -z "${DATABASE_URL:-}" ]]; then
  DATABASE_URL="$(bash scripts/ensure-postgres.sh)"
  export DATABASE_URL
fi
exec node --import tsx scripts/chaos/main.ts "$@"
