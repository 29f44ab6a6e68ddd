#!/bin/bash
# The BMC (ipmi_sim) of one fake node:
#   bmc.sh NODEDIR start    start it (no-op if it runs); the chassis state (NODEDIR/power) is kept
#   bmc.sh NODEDIR stop     SIGTERM, SIGKILL after 3 s: the BMC is dead, the node keeps running
#   bmc.sh NODEDIR wait     until it answers an RMCP+ request (5 s)
# Started with an empty environment: the hook and everything it starts inherit nothing of the caller.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

d=${1:?usage: bmc.sh NODEDIR start|stop|wait}
verb=${2:?verb}
# shellcheck source=/dev/null
. "$d/node.env"
prefix="ipmi_sim -n -c $d/bmc/lan.conf "

bmc_pid() {
  local p
  p=$(cat "$d/bmc/ipmi_sim.pid" 2>/dev/null)
  [ -n "$p" ] && cmd_is "$p" "$prefix" && echo "$p"
}

case "$verb" in
  start)
    if p=$(bmc_pid); then echo "BMC of $NODE already running (pid $p)"; exit 0; fi
    # Two ipmi_sim can bind one UDP port without an error (LAB.md): check first.
    if port_busy udp "$BMC_PORT"; then echo "udp/$BMC_PORT is in use: not starting the BMC of $NODE" >&2; exit 1; fi
    nohup env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin ipmi_sim -n -c "$d/bmc/lan.conf" -f "$d/bmc/node.emu" -s "$d/bmc/state" \
      </dev/null >>"$d/bmc/ipmi_sim.log" 2>&1 &
    echo $! > "$d/bmc/ipmi_sim.pid"
    echo "BMC of $NODE started on 127.0.0.1:$BMC_PORT/udp (pid $!)" ;;
  stop)
    if p=$(bmc_pid); then
      kill -TERM "$p"
      wait_gone 30 "$p" || { cmd_is "$p" "$prefix" && kill -KILL "$p"; }
      echo "BMC of $NODE stopped (pid $p)"
    else
      echo "BMC of $NODE not running"
    fi
    rm -f "$d/bmc/ipmi_sim.pid" ;;
  wait)
    user=$(sed -n 's/^  user 2 true "\([^"]*\)".*/\1/p' "$d/bmc/lan.conf")
    pass=$(sed -n 's/^  user 2 true "[^"]*" "\([^"]*\)".*/\1/p' "$d/bmc/lan.conf")
    for _ in $(seq 1 50); do
      if IPMI_PASSWORD=$pass ipmitool -I lanplus -C 3 -R 1 -N 1 -H 127.0.0.1 -p "$BMC_PORT" -U "$user" -E \
        chassis power status >/dev/null 2>&1; then exit 0; fi
      bmc_pid >/dev/null || break
      sleep 0.1
    done
    echo "BMC of $NODE does not answer on 127.0.0.1:$BMC_PORT/udp" >&2
    tail -5 "$d/bmc/ipmi_sim.log" >&2
    exit 1 ;;
  *) echo "unknown verb $verb" >&2; exit 2 ;;
esac
