#!/bin/bash
# Acts on a running release lab (test/lab/release/up.sh):
#
#   ctl.sh DIR status                    power, BMC, sshd, holder and Ceph units of every node
#   ctl.sh DIR exec K CMD…               CMD as root on node K (bash -c "CMD…"), like an SSH session
#   ctl.sh DIR ceph ARGS…                `ceph ARGS…` on node 1 (its CLI, its /etc/ceph)
#   ctl.sh DIR fault K NAME on|off       NAME: osd-broken (node K's ceph-osd@ units fail to start),
#                                        no-boot (never boots after power on), bmc-fail (the BMC
#                                        answers but every chassis command fails)
#   ctl.sh DIR bmc-stop K | bmc-start K  node K's BMC dies / comes back (the node keeps running)
#   ctl.sh DIR boot K                    boot node K now (sshd and enabled units), power left as is
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=bin/lib.sh
. "$HERE/bin/lib.sh"
DIR=${1:?usage: ctl.sh DIR COMMAND [ARGS]}
DIR=${DIR%/}
cmd=${2:?command}
shift 2
[ -f "$DIR/lab.env" ] || { echo "no release lab in $DIR" >&2; exit 2; }
node_dir() {
  local d=$DIR/nodes/node${1:?node number}
  [ -f "$d/node.env" ] || { echo "no node $1 in $DIR" >&2; exit 2; }
  echo "$d"
}
case "$cmd" in
  status)
    for d in "$DIR"/nodes/node*; do
      # shellcheck source=/dev/null
      . "$d/node.env"
      bmc=dead; b=$(cat "$d/bmc/ipmi_sim.pid" 2>/dev/null) && cmd_is "$b" "ipmi_sim -n -c $d/bmc/lan.conf " && bmc=up
      sshd=down; port_busy tcp "$SSH_PORT" && sshd=up
      holder=down; holder_pid "$d" >/dev/null && holder=up
      units=''
      if [ $holder = up ]; then
        units=$(node_exec "$d" bash -c 'for u in /run/nflab/units/*; do [ -d "$u" ] && printf " %s:%s" "${u##*/}" "$(systemctl is-active "${u##*/}")"; done' 2>/dev/null)
      fi
      faults=''
      for f in "$d"/faults/*; do [ -e "$f" ] && faults+="${f##*/} "; done
      printf '%s %-9s power %s  bmc %-4s udp/%s  sshd %-4s tcp/%s  holder %s  processes %s%s%s\n' "$NODE" "$NODE_HOSTNAME" \
        "$([ "$(cat "$d/power" 2>/dev/null)" = 1 ] && echo on || echo off)" "$bmc" "$BMC_PORT" "$sshd" "$SSH_PORT" "$holder" \
        "$(node_pids "$d" | wc -l)" "$units" "${faults:+  faults: $faults}"
    done ;;
  exec)
    d=$(node_dir "${1:-}"); shift
    node_exec "$d" bash -c "$*" ;;
  ceph) node_exec "$(node_dir 1)" ceph "$@" ;;
  fault)
    d=$(node_dir "${1:-}")
    case "${2:-}" in osd-broken | no-boot | bmc-fail) ;; *) echo "fault K osd-broken|no-boot|bmc-fail on|off" >&2; exit 2 ;; esac
    case "${3:-}" in
      on) touch "$d/faults/$2" ;;
      off) rm -f "$d/faults/$2" ;;
      *) echo "fault K NAME on|off" >&2; exit 2 ;;
    esac
    echo "node$1: fault $2 $3" ;;
  bmc-stop) "$DIR/bin/bmc.sh" "$(node_dir "${1:-}")" stop ;;
  bmc-start)
    d=$(node_dir "${1:-}")
    "$DIR/bin/bmc.sh" "$d" start && "$DIR/bin/bmc.sh" "$d" wait ;;
  boot) "$DIR/bin/node-power.sh" "$(node_dir "${1:-}")" boot ;;
  *) echo "unknown command $cmd (see the head of $0)" >&2; exit 2 ;;
esac
