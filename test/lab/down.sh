#!/bin/bash
# Stops the lab that up.sh started in DIR; idempotent (a missing or already stopped lab is fine).
#
#   test/lab/down.sh DIR [--wipe]     --wipe also deletes DIR, once nothing of the lab runs
#
# Only the lab's own processes are signalled, each re-checked right before the signal:
# pending power actions (bin/node-power.sh of this DIR), BMCs (ipmi_sim with this DIR's lan.conf),
# every process tagged LAB_NODE_DIR=<a node dir of DIR> (sshd, sessions, mons, mgrs, OSDs), then
# the Ceph daemons started with this DIR's ceph.conf. SIGTERM first, SIGKILL after a grace period.
# Processes in the nodes' UTS namespaces are ordinary processes of this PID namespace, found and
# signalled like the others; the namespaces themselves (bind mounts on nodes/node<k>/uts) are
# unmounted once nothing of the lab runs.
set -uo pipefail
trap '' PIPE
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=bin/lib.sh
. "$HERE/bin/lib.sh"

DIR=${1:-}
case "$DIR" in /?*) ;; *) echo "usage: down.sh /absolute/lab/dir [--wipe]" >&2; exit 2 ;; esac
DIR=${DIR%/}
WIPE=${2:-}
if [ -d "$DIR" ] && [ ! -f "$DIR/lab.env" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ] && [ ! -d "$DIR/nodes" ] && [ ! -d "$DIR/ceph" ]; then
  echo "$DIR is not a lab directory: not touching it" >&2
  exit 2
fi
CONF=$DIR/ceph/ceph.conf

# stop PREFIX TENTHS LABEL PID...: SIGTERM the PIDs still matching PREFIX, SIGKILL after TENTHS.
stop() {
  local prefix=$1 tenths=$2 label=$3 p
  shift 3
  [ $# -gt 0 ] || return 0
  for p in "$@"; do cmd_is "$p" "$prefix" && kill -TERM "$p" 2>/dev/null; done
  if ! wait_gone "$tenths" "$@"; then
    for p in "$@"; do cmd_is "$p" "$prefix" && kill -KILL "$p" 2>/dev/null && echo "SIGKILLed $label pid $p"; done
    wait_gone 30 "$@"
  fi
  echo "stopped $label: $*"
}

# 1. power actions in flight (a pending "boot" would start daemons again)
mapfile -t p < <(pids_by_prefix "/bin/bash $DIR/bin/node-power.sh ")
for x in "${p[@]}"; do cmd_is "$x" "/bin/bash $DIR/bin/node-power.sh " && kill -KILL "$x" 2>/dev/null; done
[ ${#p[@]} -gt 0 ] && echo "cancelled power actions: ${p[*]}"

# 2. BMCs
for d in "$DIR"/nodes/node*; do
  [ -d "$d" ] || continue
  prefix="ipmi_sim -n -c $d/bmc/lan.conf "
  mapfile -t p < <(pids_by_prefix "$prefix")
  stop "$prefix" 30 "BMC of $(basename "$d")" "${p[@]}"
  rm -f "$d/bmc/ipmi_sim.pid"
done

# 3. OSDs first, while the mons still answer: a stopping OSD waits up to 5 s for a mon to ack
#    that it is down (with the mons gone, every OSD would take those 5 s).
if [ -f "$CONF" ]; then
  mapfile -t p < <(pids_by_prefix "ceph-osd -c $CONF ")
  stop "ceph-osd -c $CONF " 100 "ceph-osd" "${p[@]}"
fi

# 4. the nodes, all at once: everything tagged with their node dir (sshd, sessions, leftover
#    commands, mons, mgrs, OSDs)
all=()
for d in "$DIR"/nodes/node*; do
  [ -d "$d" ] || continue
  mapfile -t p < <(node_pids "$d")
  [ ${#p[@]} -gt 0 ] || continue
  for x in "${p[@]}"; do node_pid_ok "$d" "$x" && kill -TERM "$x" 2>/dev/null; done
  all+=("${p[@]}")
  echo "stopping $(basename "$d"): ${p[*]}"
done
if [ ${#all[@]} -gt 0 ] && ! wait_gone 100 "${all[@]}"; then
  for d in "$DIR"/nodes/node*; do
    for x in "${all[@]}"; do node_pid_ok "$d" "$x" && kill -KILL "$x" 2>/dev/null && echo "SIGKILLed pid $x of $(basename "$d")"; done
  done
  wait_gone 30 "${all[@]}"
fi
for d in "$DIR"/nodes/node*; do rm -f "$d/ssh/sshd.pid"; done

# 5. Ceph daemons of this cluster not on a node (started by hand, or whose tag was lost)
if [ -f "$CONF" ]; then
  for t in osd mgr mon; do
    mapfile -t p < <(pids_by_prefix "ceph-$t -c $CONF ")
    stop "ceph-$t -c $CONF " 100 "ceph-$t" "${p[@]}"
  done
  rm -f "$DIR"/ceph/run/*.pid
fi

# 6. Anything of this lab whose PID file or directory is gone (a lab directory deleted under a
#    running lab, an interrupted start): found by the lab directory in its command line or tag.
sweep=()
for prefix in "ceph-osd -c $CONF " "ceph-mgr -c $CONF " "ceph-mon -c $CONF " "ipmi_sim -n -c $DIR/nodes/" \
  "/usr/sbin/sshd -D -e -f $DIR/nodes/" "sshd: /usr/sbin/sshd -D -e -f $DIR/nodes/"; do
  mapfile -t -O ${#sweep[@]} sweep < <(pids_by_prefix "$prefix")
done
while read -r f; do
  x=${f#/proc/}; x=${x%/environ}
  [ "$x" != "$$" ] && sweep+=("$x")
done < <(grep -lzE "^LAB_NODE_DIR=${DIR//./\\.}/nodes/node[0-9]+\$" /proc/[0-9]*/environ 2>/dev/null)
mapfile -t sweep < <(printf '%s\n' "${sweep[@]}" | grep . | sort -un)
if [ ${#sweep[@]} -gt 0 ]; then
  for x in "${sweep[@]}"; do kill -TERM "$x" 2>/dev/null; done
  wait_gone 100 "${sweep[@]}" || for x in "${sweep[@]}"; do alive "$x" && kill -KILL "$x" 2>/dev/null; done
  echo "stopped leftovers: ${sweep[*]}"
fi

# 7. The nodes' UTS namespaces: a bind mount each (a namespace lives on while a process uses it;
#    everything that could is stopped above).
while read -r m; do
  case "$m" in "$DIR"/nodes/node*/uts) umount "$m" && echo "unmounted $m" ;; esac
done < <(findmnt -rn -t nsfs -o TARGET 2>/dev/null)

[ -d "$DIR" ] || { echo "no lab directory $DIR"; exit 0; }
left=()
for d in "$DIR"/nodes/node*; do [ -d "$d" ] && mapfile -t -O ${#left[@]} left < <(node_pids "$d"); done
[ -f "$CONF" ] && for t in osd mgr mon; do mapfile -t -O ${#left[@]} left < <(pids_by_prefix "ceph-$t -c $CONF "); done
if [ ${#left[@]} -gt 0 ]; then
  echo "still running: ${left[*]}" >&2
  exit 1
fi
for d in "$DIR"/nodes/node*; do
  if [ -d "$d" ] && uts_mounted "$d"; then echo "still mounted: $d/uts" >&2; exit 1; fi
done
if [ "$WIPE" = --wipe ]; then
  rm -rf -- "$DIR"
  echo "wiped $DIR"
fi
exit 0
