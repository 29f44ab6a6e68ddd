#!/usr/bin/env bash
# Prints the path of a working Temporal CLI (dev server + Web UI), building it when needed.
#
#   1. $NF_TEMPORAL_BIN, when set (it must run);
#   2. the cached build ${XDG_CACHE_HOME:-$HOME/.cache}/nodefoundry/bin/temporal, when it is v1.5.1;
#   3. otherwise `go install github.com/temporalio/cli/cmd/temporal@v1.5.1` into that cache directory.
#
# No Temporal binary can be downloaded on our machines, only Go modules, hence the source build.
# v1.5.1 (server 1.29.1, UI 2.42.1) is the newest tag that `go install pkg@version` accepts
# (later tags have `replace` directives). The cache lives outside the repository so that fresh
# clones (CI) reuse it; a first build takes several minutes.
#
# stdout: the path and nothing else. Progress and errors: stderr.
set -euo pipefail

readonly TEMPORAL_CLI_VERSION=1.5.1
readonly TEMPORAL_SERVER_VERSION=1.29.1
readonly TEMPORAL_CLI_MODULE=github.com/temporalio/cli

log() { printf 'ensure-temporal: %s\n' "$*" >&2; }
die() { printf 'ensure-temporal: error: %s\n' "$*" >&2; exit 1; }

if [[ -n "${NF_TEMPORAL_BIN:-}" ]]; then
  [[ -x "$NF_TEMPORAL_BIN" ]] || die "NF_TEMPORAL_BIN=$NF_TEMPORAL_BIN is not an executable file"
  "$NF_TEMPORAL_BIN" --version >/dev/null 2>&1 || die "NF_TEMPORAL_BIN=$NF_TEMPORAL_BIN does not run (\`--version\` failed)"
  printf '%s\n' "$NF_TEMPORAL_BIN"
  exit 0
fi

cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/nodefoundry/bin"
bin="$cache_dir/temporal"

find_go() {
  if command -v go >/dev/null 2>&1; then command -v go; return 0; fi
  # Go's official tarball installs here without touching PATH for non-login shells.
  if [[ -x /usr/local/go/bin/go ]]; then echo /usr/local/go/bin/go; return 0; fi
  return 1
}

# True when $1 is the pinned CLI. Our builds stamp the version (-X …Version=1.5.1); a plain
# `go install` reports "0.0.0-DEV", in which case the module version recorded in the binary decides
# (or, without Go, the bundled server version, which only v1.5.1 pairs with the 1.5.1 build).
is_pinned() {
  local out go
  out="$("$1" --version 2>/dev/null)" || return 1
  [[ "$out" == *"version ${TEMPORAL_CLI_VERSION} "* || "$out" == *"version ${TEMPORAL_CLI_VERSION}" ]] && return 0
  [[ "$out" == *"0.0.0-DEV"* ]] || return 1
  if go="$(find_go)"; then
    "$go" version -m "$1" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+${TEMPORAL_CLI_MODULE}[[:space:]]+v${TEMPORAL_CLI_VERSION}([[:space:]]|$)"
  else
    [[ "$out" == *"(Server ${TEMPORAL_SERVER_VERSION},"* ]]
  fi
}

if [[ -x "$bin" ]] && is_pinned "$bin"; then
  printf '%s\n' "$bin"
  exit 0
fi

mkdir -p "$cache_dir"
# One build at a time (npm start and npm test may both get here on a fresh machine).
exec 9>"$cache_dir/.temporal-build.lock"
if command -v flock >/dev/null 2>&1; then
  if ! flock -n 9; then
    log "another build of the Temporal CLI is running; waiting for it (up to 30 min)"
    flock -w 1800 9 || die "timed out waiting for the other Temporal CLI build (lock $cache_dir/.temporal-build.lock)"
  fi
  # The other build may have produced it meanwhile.
  if [[ -x "$bin" ]] && is_pinned "$bin"; then
    printf '%s\n' "$bin"
    exit 0
  fi
fi

if [[ -e "$bin" ]]; then
  log "$bin is not Temporal CLI v${TEMPORAL_CLI_VERSION} ($("$bin" --version 2>&1 | head -n1 || true)); rebuilding"
fi

go_bin="$(find_go)" || die "the Temporal CLI is missing and Go is not installed to build it.
  Install Go >= 1.25 (https://go.dev/dl/; Go 1.21+ fetches a newer toolchain by itself), then run this again;
  or point NF_TEMPORAL_BIN at an existing temporal CLI v${TEMPORAL_CLI_VERSION} binary;
  or set TEMPORAL_ADDRESS to a running Temporal server (npm start and npm test then skip the CLI)."

# Build into a scratch GOBIN and move into place, so an interrupted build never leaves a half binary.
tmp_gobin="$(mktemp -d "$cache_dir/.build.XXXXXX")"
trap 'rm -rf "$tmp_gobin"' EXIT
log "building Temporal CLI v${TEMPORAL_CLI_VERSION} with $("$go_bin" version) into $cache_dir"
log "(first build downloads modules through the Go proxy and compiles for several minutes)"
start=$SECONDS
build_log="$cache_dir/temporal-build.log"
if ! GOBIN="$tmp_gobin" "$go_bin" install \
    -ldflags "-X ${TEMPORAL_CLI_MODULE}/temporalcli.Version=${TEMPORAL_CLI_VERSION}" \
    "${TEMPORAL_CLI_MODULE}/cmd/temporal@v${TEMPORAL_CLI_VERSION}" >"$build_log" 2>&1; then
  tail -n 30 "$build_log" >&2 || true
  die "building the Temporal CLI failed (full log: $build_log). Check Go (>= 1.25) and access to the Go module proxy (GOPROXY=${GOPROXY:-$("$go_bin" env GOPROXY)})."
fi
[[ -x "$tmp_gobin/temporal" ]] || die "go install succeeded but produced no temporal binary in $tmp_gobin"
mv -f "$tmp_gobin/temporal" "$bin"
is_pinned "$bin" || die "the built $bin does not report version ${TEMPORAL_CLI_VERSION}: $("$bin" --version 2>&1 | head -n1)"
log "built $("$bin" --version) in $((SECONDS - start)) s"
printf '%s\n' "$bin"
