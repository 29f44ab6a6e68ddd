#!/usr/bin/env bash
# Prints the path of schemathesis' `st` (the pinned version), installing it when needed.
#
#   1. $NF_SCHEMATHESIS_BIN, when set (it must run);
#   2. the virtualenv ${XDG_CACHE_HOME:-$HOME/.cache}/nodefoundry/venv, when its `st` is the pinned
#      version;
#   3. otherwise that virtualenv is created (python3 -m venv; Debian: python3-venv) and
#      `pip install schemathesis==<pinned>` from PyPI is run in it.
# The virtualenv's Python is the newest 3.12+ found (python3.13/python3.12 on PATH, else pyenv's),
# else python3: under CPython 3.11 (3.11.7 measured) hypothesis' ast.parse of a filter's source
# crashes schemathesis' coverage phase ("SystemError: AST constructor recursion depth mismatch"),
# a runtime error that fails the test. A 3.11 virtualenv is rebuilt once a 3.12+ is found.
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
minor_of() { "$1" -c 'import sys; print(sys.version_info[1])' 2>/dev/null || echo 0; }
pick_python() {
  local c
  # A candidate counts only if it runs and is 3.12+ (a pyenv shim may exist for a version not selected).
  for c in $(command -v python3.13 python3.12 2>/dev/null) \
    $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -V -r); do
    if [[ -x "$c" ]] && (($(minor_of "$c") >= 12)); then printf '%s\n' "$c"; return 0; fi
  done
  command -v python3 2>/dev/null
}

python="$(pick_python)" || die 'python3 is not installed (Debian: apt-get install -y --no-install-recommends python3-venv)'
want=$(minor_of "$python")
if [[ -x "$bin" ]] && is_pinned "$bin"; then
  have=$(minor_of "$venv/bin/python")
  if ((have >= 12 || want <= have)); then
    printf '%s\n' "$bin"
    exit 0
  fi
  log "rebuilding $venv with $python (3.$want): its Python 3.$have crashes schemathesis' coverage phase"
  rm -rf "$venv"
fi
((want >= 12)) || log "warning: $python is 3.$want; schemathesis' coverage phase crashes under CPython 3.11 (use 3.12+)"
if [[ ! -x "$venv/bin/pip" ]]; then
  log "creating the virtualenv $venv ($python)"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv" >&2 || die "$python -m venv $venv failed (Debian: apt-get install -y --no-install-recommends python3-venv)"
fi
log "installing schemathesis==${SCHEMATHESIS_VERSION} from PyPI into $venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==${SCHEMATHESIS_VERSION}" >&2 ||
  die "pip install schemathesis==${SCHEMATHESIS_VERSION} failed (is PyPI reachable?)"
is_pinned "$bin" || die "$bin is not schemathesis ${SCHEMATHESIS_VERSION} after the install"
printf '%s\n' "$bin"
