#!/bin/bash
# Stops the release lab that up.sh started in DIR; idempotent (a missing or stopped lab is fine).
#
#   test/lab/release/down.sh DIR [--wipe]     --wipe also deletes DIR once nothing of the lab runs
#
# Order: pending power actions, BMCs (ipmi_sim with this DIR's lan.conf), every node's processes
# (SIGTERM, SIGKILL after 10 s; found by the node's mount namespace, re-checked before each signal),
# then the holders (their namespaces and every mount in them go with them), then the loop devices
# over DIR/drives. Checks at the end: no process, holder, mount or loop device of the lab is left.
set -uo pipefail
trap '' PIPE
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=bin/lib.sh
. "$HERE/bin/lib.sh"

DIR=${1:-}
case "$DIR" in /?*) ;; *) echo "usage: down.sh /absolute/lab/dir [--wipe]" >&2; exit 2 ;; esac
DIR=${DIR%/}
WIPE=${2:-}
if [ -d "$DIR" ] && [ ! -f "$DIR/lab.env" ] && [ ! -d "$DIR/nodes" ] && [ -n "$(ls -A "$DIR" 2>/dev/null | grep -vx owner)" ]; then
  echo "$DIR is not a lab directory: not touching it" >&2
  exit 2
fi

# 1. power actions in flight (a pending boot would start the node again)
mapfile -t p < <(pids_by_prefix "/bin/bash $DIR/bin/node-power.sh ")
for x in "${p[@]}"; do cmd_is "$x" "/bin/bash $DIR/bin/node-power.sh " && kill -KILL "$x" 2>/dev/null; done
[ ${#p[@]} -gt 0 ] && echo "cancelled power actions: ${p[*]}"

# 2. BMCs
for d in "$DIR"/nodes/node*; do
  [ -d "$d" ] || continue
  prefix="ipmi_sim -n -c $d/bmc/lan.conf "
  mapfile -t p < <(pids_by_prefix "$prefix")
  if [ ${#p[@]} -gt 0 ]; then
    for x in "${p[@]}"; do cmd_is "$x" "$prefix" && kill -TERM "$x"; done
    wait_gone 30 "${p[@]}" || for x in "${p[@]}"; do cmd_is "$x" "$prefix" && kill -KILL "$x"; done
    echo "stopped the BMC of $(basename "$d"): ${p[*]}"
  fi
  rm -f "$d/bmc/ipmi_sim.pid"
done

# 3. the nodes' processes, all nodes at once: OSDs first (they report to the mons when stopping)
all=()
for d in "$DIR"/nodes/node*; do
  [ -d "$d" ] || continue
  mapfile -t p < <(node_pids "$d")
  [ ${#p[@]} -gt 0 ] || continue
  for x in "${p[@]}"; do [ "$(cat "/proc/$x/comm" 2>/dev/null)" = ceph-osd ] && node_pid_ok "$d" "$x" && kill -TERM "$x" 2>/dev/null; done
  all+=("${p[@]}")
done
[ ${#all[@]} -gt 0 ] && sleep 0.5
for d in "$DIR"/nodes/node*; do
  [ -d "$d" ] || continue
  for x in $(node_pids "$d"); do node_pid_ok "$d" "$x" && kill -TERM "$x" 2>/dev/null; done
done
if [ ${#all[@]} -gt 0 ]; then
  echo "stopping node processes: ${all[*]}"
  if ! wait_gone 100 "${all[@]}"; then
    for d in "$DIR"/nodes/node*; do
      for x in $(node_pids "$d"); do node_pid_ok "$d" "$x" && kill -KILL "$x" 2>/dev/null && echo "SIGKILLed pid $x of $(basename "$d")"; done
    done
    wait_gone 30 "${all[@]}"
  fi
fi

# 4. holders: their mount namespaces (overlay, /dev, bind mounts, tmpfs) end with them
hs=()
for d in "$DIR"/nodes/node*; do
  [ -d "$d" ] || continue
  for x in $(node_pids "$d"); do node_pid_ok "$d" "$x" && kill -KILL "$x" 2>/dev/null; done
  h=$(holder_pid "$d") && { kill -TERM "$h"; hs+=("$h"); }
done
[ ${#hs[@]} -gt 0 ] && { wait_gone 50 "${hs[@]}" || for h in "${hs[@]}"; do alive "$h" && [ "$(cmdline "$h")" = "/bin/sleep infinity " ] && kill -KILL "$h"; done; }
[ ${#hs[@]} -gt 0 ] && echo "stopped holders: ${hs[*]}"
# anything still rooted in a node (a holder whose pid file is gone after an interrupted start, a
# process whose holder was killed from outside): found by its root directory
stray() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = "$$" ] && continue
    case "$(readlink "/proc/$p/root" 2>/dev/null)" in "$DIR"/nodes/node*/root) alive "$p" && echo "$p" ;; esac
  done
}
mapfile -t p < <(stray)
if [ ${#p[@]} -gt 0 ]; then
  for x in "${p[@]}"; do kill -KILL "$x" 2>/dev/null; done
  wait_gone 50 "${p[@]}"
  echo "stopped processes still rooted in the lab's nodes: ${p[*]}"
fi
for d in "$DIR"/nodes/node*; do rm -f "$d/holder.pid"; done

# 5. loop devices over the lab's drive files (the holders' /dev nodes are gone with them)
for img in "$DIR"/drives/*.img; do
  [ -e "$img" ] || continue
  for l in $(losetup -n -O NAME -j "$img"); do
    for _ in 1 2 3 4 5 6 7 8 9 10; do losetup -d "$l" 2>/dev/null && break; sleep 0.2; done
    echo "detached $l ($(basename "$img"))"
  done
done

# checks
bad=0
left=$(stray | tr '\n' ' ')
[ -z "$left" ] || { echo "still running in the lab's nodes: $left" >&2; bad=1; }
left=$(pids_by_prefix "ipmi_sim -n -c $DIR/nodes/")
[ -z "$left" ] || { echo "BMC still running: $left" >&2; bad=1; }
for img in "$DIR"/drives/*.img; do
  [ -e "$img" ] && [ -n "$(losetup -n -O NAME -j "$img")" ] && { echo "loop device still attached: $(losetup -j "$img")" >&2; bad=1; }
done
if grep -q " $DIR/" /proc/self/mountinfo; then echo "mounted under $DIR:" >&2; grep " $DIR/" /proc/self/mountinfo >&2; bad=1; fi
[ $bad = 0 ] || exit 1
if [ "$WIPE" = --wipe ] && [ -d "$DIR" ]; then
  rm -rf -- "$DIR"
  echo "wiped $DIR"
fi
exit 0
