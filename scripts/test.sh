#!/usr/bin/env bash
# `npm test`: lint, type check, then every test (vitest) against a real PostgreSQL and a real
# Temporal dev server. Installs what is missing first; stops at the first failing stage.
#
#   DATABASE_URL      server + database the tests may create databases next to; when unset,
#                     scripts/ensure-postgres.sh prepares the local Debian PostgreSQL server
#   TEMPORAL_ADDRESS  a running Temporal server to use; when unset the test setup starts the
#                     Temporal CLI dev server (found or built by scripts/ensure-temporal.sh)
#   NF_SCHEMATHESIS_BIN  schemathesis' `st` for test/api/schemathesis.test.ts; when unset,
#                     scripts/ensure-schemathesis.sh finds or installs it (a virtualenv in ~/.cache)
#   NF_SUSHY_EMULATOR_BIN  sushy-tools' `sushy-emulator` for test/drivers/redfish-sushy.test.ts; when
#                     unset, scripts/ensure-sushy-tools.sh finds or installs it (its own virtualenv)
#   extra arguments are passed to vitest (e.g. `npm test -- test/unit`, `npm test -- --project unit`);
#   vitest.config.ts has four projects: unit (no database, no server), integration, lab (the
#   real-Ceph labs under test/lab, one file at a time after the others) and lab-day2 (the release
#   lab's day-2 files, two at a time, last)
set -euo pipefail
cd "$(dirname "$0")/.."

stage_started=0
stage_name=''
stage() {
  finish_stage
  stage_name="$1"
  stage_started=$SECONDS
  printf '\n==> %s\n' "$1"
}
finish_stage() {
  if [[ -n "$stage_name" ]]; then
    printf '==> %s: ok (%d s)\n' "$stage_name" "$((SECONDS - stage_started))"
  fi
  stage_name=''
}
trap 'rc=$?; if [[ $rc -ne 0 && -n "$stage_name" ]]; then printf "\n==> %s: FAILED (exit %d, %d s)\n" "$stage_name" "$rc" "$((SECONDS - stage_started))" >&2; fi' EXIT

if [[ ! -d node_modules ]]; then
  stage 'install npm dependencies (npm ci)'
  npm ci --no-audit --no-fund
fi

stage 'prerequisites: Temporal CLI, schemathesis, sushy-tools, PostgreSQL'
if [[ -z "${TEMPORAL_ADDRESS:-}" ]]; then
  NF_TEMPORAL_BIN="$(bash scripts/ensure-temporal.sh)"
  export NF_TEMPORAL_BIN
  echo "Temporal CLI: $NF_TEMPORAL_BIN"
else
  echo "Temporal: $TEMPORAL_ADDRESS"
fi
NF_SCHEMATHESIS_BIN="$(bash scripts/ensure-schemathesis.sh)"
export NF_SCHEMATHESIS_BIN
echo "schemathesis: $NF_SCHEMATHESIS_BIN"
NF_SUSHY_EMULATOR_BIN="$(bash scripts/ensure-sushy-tools.sh)"
export NF_SUSHY_EMULATOR_BIN
echo "sushy-tools: $NF_SUSHY_EMULATOR_BIN"
if [[ -z "${DATABASE_URL:-}" ]]; then
  DATABASE_URL="$(bash scripts/ensure-postgres.sh)"
  export DATABASE_URL
fi
echo "PostgreSQL: $(sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#' <<<"$DATABASE_URL")"

stage 'lint (eslint ., import direction: depcruise, formatting: prettier --check)'
npx --no-install eslint .
npm run --silent lint:imports
npx --no-install prettier --check --log-level warn .

stage 'type check (tsc --noEmit -p .)'
npx --no-install tsc --noEmit -p .

finish_stage
printf '\n==> tests (vitest run)\n'
# vitest's summary (and the plain count after it) must be the last thing on screen. The test setup stops the Temporal dev server
# after the run; anything it prints then would follow the summary, so the output is also kept in a
# file and the summary repeated if something did print after it.
log="$(mktemp -t nodefoundry-vitest.XXXXXX)"
trap 'rm -f "$log"' EXIT
set +e
if [[ -t 1 ]]; then export FORCE_COLOR=1; fi
npx --no-install vitest run "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
plain="$(sed -E 's/\x1b\[[0-9;]*[A-Za-z]//g' "$log")"
summary_at="$(grep -n -E '^[[:space:]]*Test Files[[:space:]]' <<<"$plain" | tail -n1 | cut -d: -f1 || true)"
# A long failure report scrolls its first failures out of a CI log's tail, and the first one is
# usually the cause of the rest: list every failed test with its first error line, in order.
if [[ $rc -ne 0 && -n "$summary_at" ]]; then
  failures="$(head -n "$summary_at" <<<"$plain" | awk '
    /^[[:space:]]*FAIL[[:space:]]/ { name = $0; sub(/^[[:space:]]*FAIL[[:space:]]+/, "", name); want = 1; next }
    /Unhandled (Rejection|Error)/ && !/Unhandled Errors/ { name = "(an unhandled error outside any test)"; want = 1; next }
    want && /[^[:space:]]/ { line = $0; sub(/^[[:space:]]+/, "", line); printf "  %d. %s\n     %s\n", ++n, substr(name, 1, 300), substr(line, 1, 300); want = 0 }
  ' || true)"
  if [[ -n "$failures" ]]; then
    printf '\n==> failed tests, in the order vitest reported them:\n%s\n' "$failures"
    reprint_summary=1
  fi
fi
if [[ -n "$summary_at" ]]; then
  after="$(tail -n +"$summary_at" <<<"$plain" | grep -n -E '^[[:space:]]*Duration[[:space:]]' | head -n1 | cut -d: -f1 || true)"
  if [[ -n "$after" ]]; then
    end=$((summary_at + after - 1))
    if [[ -n "${reprint_summary:-}" ]] || tail -n +"$((end + 1))" <<<"$plain" | grep -q '[^[:space:]]'; then
      printf '\n'
      sed -n "${summary_at},${end}p" <<<"$plain"
    fi
  fi
elif [[ $rc -ne 0 ]]; then
  printf '\n==> tests: FAILED (exit %d) before vitest printed a summary\n' "$rc" >&2
fi
# Last, alone on its line, without colour: the count in the plain form that any CI reads
# ("tests: N passed, N failed", ", N skipped" when some were), from vitest's "Tests" summary line
# ("Tests  2 failed | 950 passed | 1 skipped (953)").
if [[ -n "$summary_at" ]]; then
  tests_line="$(tail -n +"$summary_at" <<<"$plain" | grep -m1 -E '^[[:space:]]*Tests[[:space:]]' || true)"
  count() { grep -oE "[0-9]+ $1" <<<"$tests_line" | grep -oE '^[0-9]+' || echo 0; }
  passed="$(count passed)"
  failed="$(count failed)"
  skipped="$(($(count skipped) + $(count todo)))"
  if ((skipped > 0)); then
    printf '\ntests: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
  else
    printf '\ntests: %d passed, %d failed\n' "$passed" "$failed"
  fi
fi
exit "$rc"
