#!/usr/bin/env bash
# Prints the path of schemathesis' `st` (the pinned version), installing it when needed.
#
#   1. $NF_SCHEMATHESIS_BIN, when set (it must run);
#   2. the virtualenv ${XDG_CACHE_HOME:-$HOME/.cache}/nodefoundry/venv, when its `st` is the pinned
#      version;
#   3. otherwise that virtualenv is created (python3 -m venv; Debian: python3-venv) and
#      `pip install schemathesis==<pinned>` from PyPI is run in it.
#
# test/api/schemathesis.test.ts runs it (docs/development.md#schemathesis). The virtualenv lives
# outside the repository so that fresh clones (CI) reuse it; a first install takes about 30 s.
#
# stdout: the path and nothing else. Progress and errors: stderr.
set -euo pipefail

readonly SCHEMATHESIS_VERSION=4.32.5

log() { printf 'ensure-schemathesis: %s\n' "$*" >&2; }
die() { printf 'ensure-schemathesis: error: %s\n' "$*" >&2; exit 1; }

if [[ -n "${NF_SCHEMATHESIS_BIN:-}" ]]; then
  [[ -x "$NF_SCHEMATHESIS_BIN" ]] || die "NF_SCHEMATHESIS_BIN=$NF_SCHEMATHESIS_BIN is not an executable file"
  "$NF_SCHEMATHESIS_BIN" --version >/dev/null 2>&1 || die "NF_SCHEMATHESIS_BIN=$NF_SCHEMATHESIS_BIN does not run (\`--version\` failed)"
  printf '%s\n' "$NF_SCHEMATHESIS_BIN"
  exit 0
fi

venv="${XDG_CACHE_HOME:-$HOME/.cache}/nodefoundry/venv"
bin="$venv/bin/st"

is_pinned() { [[ "$("$1" --version 2>/dev/null)" == "st, version ${SCHEMATHESIS_VERSION}" ]]; }

if [[ -x "$bin" ]] && is_pinned "$bin"; then
  printf '%s\n' "$bin"
  exit 0
fi

command -v python3 >/dev/null 2>&1 || die 'python3 is not installed (Debian: apt-get install -y --no-install-recommends python3-venv)'
if [[ ! -x "$venv/bin/pip" ]]; then
  log "creating the virtualenv $venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" >&2 || die "python3 -m venv $venv failed (Debian: apt-get install -y --no-install-recommends python3-venv)"
fi
log "installing schemathesis==${SCHEMATHESIS_VERSION} from PyPI into $venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==${SCHEMATHESIS_VERSION}" >&2 ||
  die "pip install schemathesis==${SCHEMATHESIS_VERSION} failed (is PyPI reachable?)"
is_pinned "$bin" || die "$bin is not schemathesis ${SCHEMATHESIS_VERSION} after the install"
printf '%s\n' "$bin"
