#!/usr/bin/env bash
# Prints the path of sushy-tools' `sushy-emulator` (the pinned version), installing it when needed.
#
#   1. $NF_SUSHY_EMULATOR_BIN, when set (it must be executable);
#   2. the virtualenv ${XDG_CACHE_HOME:-$HOME/.cache}/nodefoundry/venv-sushy, when its sushy-tools is
#      the pinned version;
#   3. otherwise that virtualenv is created (python3 -m venv; Debian: python3-venv) and
#      `pip install sushy-tools==<pinned>` from PyPI is run in it.
#
# test/drivers/redfish-sushy.test.ts runs it: a Redfish BMC emulator (its fake driver, no
# libvirt) behind TLS, for the Redfish power driver (docs/development.md#redfish). Its own
# virtualenv, apart from schemathesis', so neither pin constrains the other's dependencies.
#
# stdout: the path and nothing else. Progress and errors: stderr.
set -euo pipefail

readonly SUSHY_TOOLS_VERSION=2.2.0

log() { printf 'ensure-sushy-tools: %s\n' "$*" >&2; }
die() { printf 'ensure-sushy-tools: error: %s\n' "$*" >&2; exit 1; }

if [[ -n "${NF_SUSHY_EMULATOR_BIN:-}" ]]; then
  [[ -x "$NF_SUSHY_EMULATOR_BIN" ]] || die "NF_SUSHY_EMULATOR_BIN=$NF_SUSHY_EMULATOR_BIN is not an executable file"
  printf '%s\n' "$NF_SUSHY_EMULATOR_BIN"
  exit 0
fi

venv="${XDG_CACHE_HOME:-$HOME/.cache}/nodefoundry/venv-sushy"
bin="$venv/bin/sushy-emulator"

is_pinned() {
  [[ -x "$bin" ]] &&
    [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("sushy-tools"))' 2>/dev/null)" == "$SUSHY_TOOLS_VERSION" ]]
}

if is_pinned; then
  printf '%s\n' "$bin"
  exit 0
fi

command -v python3 >/dev/null 2>&1 || die 'python3 is not installed (Debian: apt-get install -y --no-install-recommends python3-venv)'
if [[ ! -x "$venv/bin/pip" ]]; then
  log "creating the virtualenv $venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" >&2 || die "python3 -m venv $venv failed (Debian: apt-get install -y --no-install-recommends python3-venv)"
fi
log "installing sushy-tools==${SUSHY_TOOLS_VERSION} from PyPI into $venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "sushy-tools==${SUSHY_TOOLS_VERSION}" >&2 ||
  die "pip install sushy-tools==${SUSHY_TOOLS_VERSION} failed (is PyPI reachable?)"
is_pinned || die "$bin is not sushy-tools ${SUSHY_TOOLS_VERSION} after the install"
printf '%s\n' "$bin"
