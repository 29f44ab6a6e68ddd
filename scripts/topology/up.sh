#!/usr/bin/env bash
# NodeFoundry's production topology on this machine, without Docker (issue 14; docs/deployment.md
# "Without Docker"): the same processes as docker-compose.yml, each a native process on loopback.
#
#   scripts/topology/up.sh DIR [--temporal-only]
#
#   PostgreSQL     the server of `npm test`/`npm start` (DATABASE_URL, else scripts/ensure-postgres.sh);
#                  databases <p>_temporal and <p>_temporal_visibility (created fresh by Temporal's own
#                  SQL tool, schema by its setup-schema + update-schema) and <p>_nodefoundry (fresh,
#                  migrated once), <p> = NF_TOPO_PREFIX (default: "nftopo_" + a checksum of DIR)
#   Temporal       the server itself, v1.29.1 (scripts/topology/ensure-temporal-server.sh), postgres12
#                  plugin, config scripts/topology/config/nodefoundry.yaml, all services in one process
#   Temporal UI    ui-server v2.42.1 (the one the CLI embeds), when it was built
#   namespace      TEMPORAL_NAMESPACE (default "default") registered, NodeFoundry's search attributes added
#   NodeFoundry    2 workers (worker/main.ts, /readyz on a port each) and 2 APIs (api/main.ts), the
#                  entry points of docker-compose.yml; an enterprise sandbox account and its test key
#
# --temporal-only stops after the namespace (for `npm run chaos -- --topology`, which runs its own
# workers and APIs so that it can kill and restart them).
#
# Writes DIR/env (sourceable): TEMPORAL_ADDRESS, TEMPORAL_UI_URL, DATABASE_URL, NF_SECRET_KEY,
# NF_API_URLS (comma-separated), NF_API_KEY, and one <NAME>_PID per process; each process logs to
# DIR/<name>.log and has DIR/<name>.pid and DIR/run-<name>.sh (restarts it: docs/deployment.md).
# The NodeFoundry processes inherit this environment (e.g. NF_SANDBOX_SPEED, NF_POLL_INTERVAL_MS).
# Every wait is bounded; on any failure everything started so far is stopped (down.sh).
set -euo pipefail
ORIG_PWD="$PWD"

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
TOPO="$REPO/scripts/topology"
cd "$REPO"
log() { printf 'topology: %s\n' "$*" >&2; }
die() { printf 'topology: error: %s\n' "$*" >&2; exit 1; }
# NAME='value' (values never contain a single quote): sourceable by sh, readable by a plain parser.
kv() { printf "%s='%s'\n" "$1" "$2"; }


[[ $# -ge 1 ]] || die "usage: $0 DIR [--temporal-only]"
DIR="$1"
[[ "$DIR" == /* ]] || DIR="$ORIG_PWD/$DIR"
TEMPORAL_ONLY=false
[[ "${2:-}" == "--temporal-only" ]] && TEMPORAL_ONLY=true
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
if [[ -f "$DIR/env" ]]; then
  # shellcheck disable=SC1091
  for pidfile in "$DIR"/*.pid; do
    [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null &&
      die "a topology is already running in $DIR ($(basename "$pidfile" .pid) pid $(cat "$pidfile")): run scripts/topology/down.sh $DIR first"
  done
fi
rm -f "$DIR/env" "$DIR"/*.pid

started_ok=false
cleanup() { if ! $started_ok; then log "start failed: stopping what was started"; bash "$TOPO/down.sh" "$DIR" >&2 || true; fi; }
trap cleanup EXIT

# ---- binaries, PostgreSQL --------------------------------------------------------------------
eval "$(bash "$TOPO/ensure-temporal-server.sh")"
BASE_URL="${DATABASE_URL:-$(bash "$REPO/scripts/ensure-postgres.sh")}"
# postgres://user:password@host:port/db
re='^postgres(ql)?://([^:@/]+)(:([^@/]*))?@([^:/]+)(:([0-9]+))?/([^?]*)'
[[ "$BASE_URL" =~ $re ]] || die "DATABASE_URL must be postgres://user:password@host[:port]/db"
PG_USER="${BASH_REMATCH[2]}"
PG_PASSWORD="${BASH_REMATCH[4]}"
PG_HOST="${BASH_REMATCH[5]}"
PG_PORT="${BASH_REMATCH[7]:-5432}"
PREFIX="${NF_TOPO_PREFIX:-nftopo_$(printf '%s' "$DIR" | cksum | cut -d' ' -f1)}"
[[ "$PREFIX" =~ ^[a-z_][a-z0-9_]*$ ]] || die "NF_TOPO_PREFIX=$PREFIX: use [a-z0-9_]"
TEMPORAL_DB="${PREFIX}_temporal"
VISIBILITY_DB="${PREFIX}_temporal_visibility"
NF_DB="${PREFIX}_nodefoundry"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
printf '%s\n' "$PREFIX" >"$DIR/prefix"
kv BASE_URL "$BASE_URL" >"$DIR/base-url"

# ---- ports: free ones below 32768 (bound right after) ------------------------------------------
# Temporal stores each service's membership port in a PostgreSQL smallint (cluster_membership.rpc_port):
# a port the OS would pick (32768-60999 on Linux) makes the server exit ("out of range for type
# smallint"). So ports are tried at random in 20000-32767 until 15 bind.
read -r P_FRONTEND P_FRONTEND_M P_FRONTEND_HTTP P_MATCHING P_MATCHING_M P_HISTORY P_HISTORY_M P_WORKER P_WORKER_M \
  P_METRICS P_UI P_API1 P_API2 P_WH1 P_WH2 <<<"$(node -e '
    const net = require("node:net");
    const bind = (port) => new Promise((r) => {
      const s = net.createServer();
      s.once("error", () => r(null));
      s.listen(port, "127.0.0.1", () => r(s));
    });
    (async () => {
      const servers = [];
      for (let tries = 0; servers.length < 15 && tries < 1000; tries++) {
        const s = await bind(20000 + Math.floor(Math.random() * 12768));
        if (s) servers.push(s);
      }
      if (servers.length < 15) process.exit(1);
      console.log(servers.map((s) => s.address().port).join(" "));
      servers.forEach((s) => s.close());
    })();')"

wait_port() { # PORT NAME PID TIMEOUT_S
  local deadline=$((SECONDS + $4))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || die "$2 exited during start (see $DIR/$2.log: $(tail -n 5 "$DIR/$2.log" 2>/dev/null | tr '\n' ' '))"
    ((SECONDS < deadline)) || die "$2 did not listen on 127.0.0.1:$1 within $4 s (see $DIR/$2.log)"
    sleep 0.5
  done
}
wait_http() { # URL NAME PID TIMEOUT_S
  local deadline=$((SECONDS + $4))
  until curl -fsS -m 2 -o /dev/null "$1" 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || die "$2 exited during start (see $DIR/$2.log: $(tail -n 5 "$DIR/$2.log" 2>/dev/null | tr '\n' ' '))"
    ((SECONDS < deadline)) || die "$2 did not answer $1 within $4 s (see $DIR/$2.log)"
    sleep 0.5
  done
}

# launch NAME CMD…: writes DIR/run-NAME.sh (the environment and command, so an operator or chaos can
# restart exactly this process), starts it in its own session, records DIR/NAME.pid.
launch() {
  local name="$1"; shift
  {
    echo '#!/usr/bin/env bash'
    echo "# Starts the topology's $name in the background (log: $DIR/$name.log, pid: $DIR/$name.pid)."
    echo "cd $(printf '%q' "$REPO")"
    for v in "${LAUNCH_ENV[@]}"; do printf 'export %q\n' "$v"; done
    printf 'setsid'
    printf ' %q' "$@"
    printf ' >>%q 2>&1 </dev/null &\n' "$DIR/$name.log"
    printf 'echo $! >%q\n' "$DIR/$name.pid"
  } >"$DIR/run-$name.sh"
  chmod +x "$DIR/run-$name.sh"
  bash "$DIR/run-$name.sh"
  kv "$(echo "$name" | tr 'a-z-' 'A-Z_')_PID" "$(cat "$DIR/$name.pid")" >>"$DIR/pids"
}
: >"$DIR/pids"

# ---- Temporal databases and schema, by the server's own SQL tool ------------------------------
sql_tool() { "$NF_TEMPORAL_SQL_TOOL_BIN" --plugin postgres12 --ep "$PG_HOST" -p "$PG_PORT" -u "$PG_USER" --pw "$PG_PASSWORD" "$@"; }
for pair in "$TEMPORAL_DB:postgresql/v12/temporal" "$VISIBILITY_DB:postgresql/v12/visibility"; do
  db="${pair%%:*}"; schema="${pair#*:}"
  log "database $db: drop, create, setup-schema, update-schema ($schema)"
  sql_tool --db "$db" drop-database --force >>"$DIR/sql-tool.log" 2>&1 || true
  sql_tool --db "$db" create-database >>"$DIR/sql-tool.log" 2>&1 || die "create-database $db failed (see $DIR/sql-tool.log)"
  sql_tool --db "$db" setup-schema -v 0.0 >>"$DIR/sql-tool.log" 2>&1 || die "setup-schema $db failed (see $DIR/sql-tool.log)"
  sql_tool --db "$db" update-schema --schema-name "$schema" >>"$DIR/sql-tool.log" 2>&1 ||
    die "update-schema $db failed (see $DIR/sql-tool.log)"
done

# ---- Temporal server ----------------------------------------------------------------------------
TEMPORAL_ADDRESS="127.0.0.1:$P_FRONTEND"
LAUNCH_ENV=(
  "NF_TOPO_PG_ADDR=$PG_HOST:$PG_PORT" "NF_TOPO_PG_USER=$PG_USER" "NF_TOPO_PG_PASSWORD=$PG_PASSWORD"
  "NF_TOPO_DB=$TEMPORAL_DB" "NF_TOPO_VISIBILITY_DB=$VISIBILITY_DB"
  "NF_TOPO_FRONTEND_PORT=$P_FRONTEND" "NF_TOPO_FRONTEND_MEMBERSHIP_PORT=$P_FRONTEND_M"
  "NF_TOPO_FRONTEND_HTTP_PORT=$P_FRONTEND_HTTP" "NF_TOPO_MATCHING_PORT=$P_MATCHING"
  "NF_TOPO_MATCHING_MEMBERSHIP_PORT=$P_MATCHING_M" "NF_TOPO_HISTORY_PORT=$P_HISTORY"
  "NF_TOPO_HISTORY_MEMBERSHIP_PORT=$P_HISTORY_M" "NF_TOPO_WORKER_PORT=$P_WORKER"
  "NF_TOPO_WORKER_MEMBERSHIP_PORT=$P_WORKER_M" "NF_TOPO_METRICS_PORT=$P_METRICS"
  "NF_TOPO_DYNAMIC_CONFIG=$TOPO/config/dynamicconfig.yaml" "NF_TOPO_LOG_LEVEL=${NF_TOPO_LOG_LEVEL:-warn}"
)
log "starting the Temporal server on $TEMPORAL_ADDRESS (log: $DIR/temporal.log)"
launch temporal "$NF_TEMPORAL_SERVER_BIN" --root / --config "$TOPO/config" --env nodefoundry --allow-no-auth start
wait_port "$P_FRONTEND" temporal "$(cat "$DIR/temporal.pid")" 120

# ---- Temporal UI --------------------------------------------------------------------------------
TEMPORAL_UI_URL="http://127.0.0.1:$P_UI"
LAUNCH_ENV=("TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS" "TEMPORAL_UI_PORT=$P_UI" "TEMPORAL_DEFAULT_NAMESPACE=$NAMESPACE")
log "starting the Temporal UI on $TEMPORAL_UI_URL"
launch temporal-ui "$NF_TEMPORAL_UI_BIN" --root / --config "$TOPO/ui-config" --env nodefoundry start
wait_port "$P_UI" temporal-ui "$(cat "$DIR/temporal-ui.pid")" 60

# ---- namespace, search attributes ---------------------------------------------------------------
export TEMPORAL_ADDRESS TEMPORAL_NAMESPACE="$NAMESPACE"
node --import tsx "$TOPO/setup.ts" namespace
node --import tsx "$TOPO/setup.ts" attributes

{
  kv TEMPORAL_ADDRESS "$TEMPORAL_ADDRESS"
  kv TEMPORAL_NAMESPACE "$NAMESPACE"
  kv TEMPORAL_UI_URL "$TEMPORAL_UI_URL"
} >"$DIR/env.partial"

if ! $TEMPORAL_ONLY; then
  # ---- NodeFoundry database, key ----------------------------------------------------------------
  NF_URL="postgres://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT/$NF_DB"
  eval "$(DATABASE_URL="$NF_URL" NF_TOPO_ADMIN_URL="$BASE_URL" node --import tsx "$TOPO/setup.ts" database)"
  NF_SECRET_KEY="${NF_SECRET_KEY:-$(node -e 'console.log(require("node:crypto").randomBytes(32).toString("hex"))')}"
  APP_ENV=(
    "DATABASE_URL=$NF_URL" "NF_SECRET_KEY=$NF_SECRET_KEY" "TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS"
    "TEMPORAL_NAMESPACE=$NAMESPACE" "TEMPORAL_UI_URL=$TEMPORAL_UI_URL" "NF_HOST=127.0.0.1"
  )
  # ---- two workers, then two APIs (so the first request finds a worker) --------------------------
  for i in 1 2; do
    wh_port_var="P_WH$i"
    LAUNCH_ENV=("${APP_ENV[@]}" "NF_WORKER_HEALTH_PORT=${!wh_port_var}")
    log "starting worker-$i (readyz :${!wh_port_var})"
    launch "worker-$i" node --import tsx worker/main.ts
  done
  for i in 1 2; do
    wh_port_var="P_WH$i"
    wait_http "http://127.0.0.1:${!wh_port_var}/readyz" "worker-$i" "$(cat "$DIR/worker-$i.pid")" 120
  done
  API_URLS=()
  for i in 1 2; do
    port_var="P_API$i"
    LAUNCH_ENV=("${APP_ENV[@]}" "PORT=${!port_var}")
    log "starting api-$i on 127.0.0.1:${!port_var}"
    launch "api-$i" node --import tsx api/main.ts
    API_URLS+=("http://127.0.0.1:${!port_var}")
  done
  for i in 1 2; do
    wait_http "${API_URLS[$((i - 1))]}/healthz" "api-$i" "$(cat "$DIR/api-$i.pid")" 120
  done
  {
    kv DATABASE_URL "$NF_URL"
    kv NF_SECRET_KEY "$NF_SECRET_KEY"
    kv NF_API_URLS "$(IFS=,; echo "${API_URLS[*]}")"
    kv NF_API_KEY "$NF_API_KEY"
    kv NF_ACCOUNT_ID "$NF_ACCOUNT_ID"
    kv NF_WORKER_READYZ_URLS "http://127.0.0.1:$P_WH1/readyz,http://127.0.0.1:$P_WH2/readyz"
  } >>"$DIR/env.partial"
fi
cat "$DIR/pids" >>"$DIR/env.partial"
mv "$DIR/env.partial" "$DIR/env"
started_ok=true
log "up: $(tr '\n' ' ' <"$DIR/env" | sed 's/NF_SECRET_KEY=[^ ]*/NF_SECRET_KEY=…/')"
printf '%s\n' "$DIR/env"
