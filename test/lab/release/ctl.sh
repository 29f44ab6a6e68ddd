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
#   ctl.sh DIR add-drive K [GB]          a new blank drive hot-plugged into node K (a disk replaced
#                                        into a free slot): prints its name in the node (sdX)
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
  add-drive)
    # A lab adaptation for the disk-replacement tests (issue 13): a drive added after the lab
    # (and the cluster) exists, seen by the node exactly as up.sh's drives are: a sparse file
    # DIR/drives/nodeK-sdX.img (so down.sh detaches its loop device like the others), a device node
    # /dev/sdX in the node's private /dev with the loop's numbers, and a line in hw/node.env
    # NFLAB_DRIVES (the lsblk/smartctl/udevadm shims read it) and in the node's drives file.
    d=$(node_dir "${1:-}")
    k=$1
    gb=${2:-}
    if [ -z "$gb" ]; then
      first=$(awk 'NR==1 {print $1}' "$d/drives")
      bytes=$(stat -c %s "$DIR/drives/node$k-$first.img") || exit 1
    else
      [[ "$gb" =~ ^[0-9]+$ ]] && [ "$gb" -ge 1 ] || { echo "add-drive K [GB]: GB a number" >&2; exit 2; }
      bytes=$((gb * 1024 * 1024 * 1024))
    fi
    name=''
    for l in b c d e f g h i j k l m n o p; do
      grep -q "^sd$l " "$d/drives" || { name=sd$l; break; }
    done
    [ -n "$name" ] || { echo "node$k has no free drive name" >&2; exit 1; }
    img=$DIR/drives/node$k-$name.img
    truncate -s "$bytes" "$img" || exit 1
    loop=$(losetup -f --show "$img") || { rm -f "$img"; exit 1; }
    loop=${loop#/dev/}
    mm=$(cat "/sys/block/$loop/dev")
    node_exec "$d" sh -c "mknod -m 0660 /dev/$name b ${mm%:*} ${mm#*:} && chgrp disk /dev/$name" || exit 1
    echo "$name $loop" >>"$d/drives"
    # hw/ is bind-mounted read-only at /nflab in the node: rewrite the file from the host side.
    sed -i "s/^NFLAB_DRIVES=\"\(.*\)\"\$/NFLAB_DRIVES=\"\1 $name:$loop\"/" "$d/hw/node.env"
    grep -q " $name:$loop\"\$" "$d/hw/node.env" || { echo "node$k: NFLAB_DRIVES not updated" >&2; exit 1; }
    echo "$name" ;;
  *) echo "unknown command $cmd (see the head of $0)" >&2; exit 2 ;;
esac
