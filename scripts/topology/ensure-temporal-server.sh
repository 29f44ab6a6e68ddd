#!/usr/bin/env bash
# Prints the paths of the production Temporal binaries, building them when needed (issue 14, "The
# production topology, run for real"):
#
#   NF_TEMPORAL_SERVER_BIN=…   the Temporal server itself (go.temporal.io/server/cmd/server)
#   NF_TEMPORAL_SQL_TOOL_BIN=… its SQL schema tool     (go.temporal.io/server/cmd/tools/sql)
#   NF_TEMPORAL_UI_BIN=…       the Temporal Web UI server (github.com/temporalio/ui-server/v2/cmd/server)
#
# Versions: server v1.29.1 and UI v2.42.1, exactly what the Temporal CLI v1.5.1 bundles (the dev
# server of `npm test`, scripts/ensure-temporal.sh), so the topology runs the same server code as
# the tests, only on PostgreSQL and as its own process. No binary can be downloaded on our machines,
# only Go modules: `go install pkg@version` builds them (none of the three modules has `replace`
# directives at these versions). Cached in ${XDG_CACHE_HOME:-$HOME/.cache}/nodefoundry/bin, outside
# the repository, so fresh clones reuse them. A first build takes several minutes of CPU.
#
# Each variable may be set beforehand to use an existing binary. stdout: the three lines above, to
# `eval`. Progress and errors: stderr.
set -euo pipefail

readonly TEMPORAL_SERVER_VERSION=1.29.1
readonly TEMPORAL_UI_VERSION=2.42.1
readonly SERVER_MODULE=go.temporal.io/server
readonly UI_MODULE=github.com/temporalio/ui-server/v2

log() { printf 'ensure-temporal-server: %s\n' "$*" >&2; }
die() { printf 'ensure-temporal-server: error: %s\n' "$*" >&2; exit 1; }

cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/nodefoundry/bin"
mkdir -p "$cache_dir"

find_go() {
  if command -v go >/dev/null 2>&1; then command -v go; return 0; fi
  if [[ -x /usr/local/go/bin/go ]]; then echo /usr/local/go/bin/go; return 0; fi
  return 1
}

# True when binary $1 was built from module $2 at version $3 (Go records it in the binary).
is_pinned() {
  local go
  [[ -x "$1" ]] || return 1
  go="$(find_go)" || return 0 # without Go we cannot rebuild anyway: trust the cache
  "$go" version -m "$1" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$2[[:space:]]+v$3([[:space:]]|$)"
}

# build NAME PACKAGE MODULE VERSION: go install into a scratch GOBIN, then move into place as NAME.
build() {
  local name="$1" pkg="$2" module="$3" version="$4" go tmp start
  go="$(find_go)" || die "$name is missing and Go is not installed to build it (Go >= 1.24; see scripts/ensure-temporal.sh)"
  tmp="$(mktemp -d "$cache_dir/.build-$name.XXXXXX")"
  log "building $name from $pkg@v$version with $("$go" version) (minutes on a first build)"
  start=$SECONDS
  if ! GOBIN="$tmp" nice -n 10 "$go" install "$pkg@v$version" >"$cache_dir/$name-build.log" 2>&1; then
    tail -n 30 "$cache_dir/$name-build.log" >&2 || true
    rm -rf "$tmp"
    die "building $name failed (full log: $cache_dir/$name-build.log)"
  fi
  local built
  built="$(find "$tmp" -maxdepth 1 -type f -perm -u+x | head -n1)"
  [[ -n "$built" ]] || die "go install produced no binary for $pkg"
  mv -f "$built" "$cache_dir/$name"
  rm -rf "$tmp"
  is_pinned "$cache_dir/$name" "$module" "$version" || die "the built $cache_dir/$name is not $module v$version"
  log "built $cache_dir/$name in $((SECONDS - start)) s"
}

# One build at a time (bench and chaos may both get here on a fresh machine).
exec 9>"$cache_dir/.temporal-server-build.lock"
if command -v flock >/dev/null 2>&1; then
  flock -w 1800 9 || die "timed out waiting for another build (lock $cache_dir/.temporal-server-build.lock)"
fi

ensure() { # VAR NAME PACKAGE MODULE VERSION
  local var="$1" name="$2" pkg="$3" module="$4" version="$5" path
  path="${!var:-}"
  if [[ -n "$path" ]]; then
    [[ -x "$path" ]] || die "$var=$path is not an executable file"
  else
    path="$cache_dir/$name"
    is_pinned "$path" "$module" "$version" || build "$name" "$pkg" "$module" "$version"
  fi
  printf '%s=%s\n' "$var" "$path"
}

ensure NF_TEMPORAL_SERVER_BIN temporal-server "$SERVER_MODULE/cmd/server" "$SERVER_MODULE" "$TEMPORAL_SERVER_VERSION"
ensure NF_TEMPORAL_SQL_TOOL_BIN temporal-sql-tool "$SERVER_MODULE/cmd/tools/sql" "$SERVER_MODULE" "$TEMPORAL_SERVER_VERSION"
ensure NF_TEMPORAL_UI_BIN temporal-ui-server "$UI_MODULE/cmd/server" "$UI_MODULE" "$TEMPORAL_UI_VERSION"
