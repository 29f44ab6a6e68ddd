#!/usr/bin/env bash
# Stops the topology scripts/topology/up.sh started in DIR and leaves no process behind: the APIs
# first (no new work), then the workers (in-flight activities finish or are handed back: SIGTERM,
# 60 s), then the UI and the Temporal server; SIGKILL for whatever outlives its bound. Then drops
# the topology's databases (unless --keep-data): up.sh creates them fresh anyway.
#
#   scripts/topology/down.sh DIR [--keep-data]
set -uo pipefail
ORIG_PWD="$PWD"

TOPO="$(cd "$(dirname "$0")" && pwd)"
cd "$TOPO/../.."
log() { printf 'topology: %s\n' "$*" >&2; }
[[ $# -ge 1 ]] || { log "usage: $0 DIR [--keep-data]"; exit 2; }
DIR="$1"
[[ "$DIR" == /* ]] || DIR="$ORIG_PWD/$DIR"
KEEP=false
[[ "${2:-}" == "--keep-data" ]] && KEEP=true
[[ -d "$DIR" ]] || { log "$DIR does not exist: nothing to stop"; exit 0; }

# stop NAME GRACE_S: SIGTERM to the process's session (setsid made it the leader), SIGKILL after GRACE_S.
stop() {
  local name="$1" grace="$2" pid deadline
  [[ -f "$DIR/$name.pid" ]] || return 0
  pid="$(cat "$DIR/$name.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || { rm -f "$DIR/$name.pid"; return 0; }
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    deadline=$((SECONDS + grace))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) still running after ${grace} s: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
      sleep 0.2
    fi
    log "stopped $name (pid $pid)"
  fi
  # Anything left in its session (none expected) goes too.
  pkill -KILL -s "$pid" 2>/dev/null || true
  rm -f "$DIR/$name.pid"
}

for n in api-1 api-2; do stop "$n" 30 & done; wait
for n in worker-1 worker-2; do stop "$n" 60 & done; wait
stop temporal-ui 10
stop temporal 30
rm -f "$DIR/env"

if ! $KEEP && [[ -f "$DIR/prefix" && -f "$DIR/base-url" ]]; then
  PREFIX="$(cat "$DIR/prefix")"
  # shellcheck disable=SC1091
  source "$DIR/base-url"
  base="${BASE_URL%%\?*}"
  base="${base%/*}"
  for db in "${PREFIX}_nodefoundry" "${PREFIX}_temporal" "${PREFIX}_temporal_visibility"; do
    DATABASE_URL="$base/$db" NF_TOPO_ADMIN_URL="$BASE_URL" node --import tsx "$TOPO/setup.ts" drop >/dev/null 2>&1 ||
      log "could not drop database $db"
  done
  log "dropped databases ${PREFIX}_{nodefoundry,temporal,temporal_visibility}"
fi
exit 0
