#!/bin/bash
# Acts on a running lab (test/lab/up.sh) the way the world acts on a datacenter:
#
#   ctl.sh DIR status                     power, sshd, BMC and Ceph daemons of every node; ceph -s
#   ctl.sh DIR bmc-stop K | bmc-start K   the BMC of node K dies / comes back (node keeps running)
#   ctl.sh DIR fault K NAME on|off        NAME: osd-broken (its OSDs fail to start), no-boot (the
#                                         node never comes back after power on), bmc-fail (the BMC
#                                         answers but every chassis command fails)
#   ctl.sh DIR rotate-hostkey K           node K gets a new SSH host key (sshd restarted, same port);
#                                         prints the new fingerprint
#   ctl.sh DIR restore-hostkey K          puts back the host key it had when the lab started
#   ctl.sh DIR osd start|stop ID          one OSD daemon, like systemctl on its host
#   ctl.sh DIR mon|mgr start|stop ID      one mon or mgr daemon (ID: labnode<k>), likewise
#   ctl.sh DIR boot K                     start node K's sshd and Ceph daemons (after a test left it dark)
#   ctl.sh DIR wait-clean [SECONDS]       until all OSDs up and in, every PG active+clean, HEALTH_OK
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=bin/lib.sh
. "$HERE/bin/lib.sh"

DIR=${1:?usage: ctl.sh DIR COMMAND [ARGS]}
DIR=${DIR%/}
cmd=${2:?command}
shift 2
[ -f "$DIR/lab.env" ] || { echo "no lab in $DIR" >&2; exit 2; }
# shellcheck source=/dev/null
. "$DIR/lab.env"

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
      p=$(cat "$d/power" 2>/dev/null)
      bmc=dead; b=$(cat "$d/bmc/ipmi_sim.pid" 2>/dev/null) && cmd_is "$b" "ipmi_sim -n -c $d/bmc/lan.conf " && bmc=up
      sshd=down; port_busy tcp "$SSH_PORT" && sshd=up
      daemons=''
      for id in ${MONS:-}; do daemons+=" mon.$id:$("$DIR/bin/daemon-ctl.sh" "$DIR" status mon "$id")"; done
      for id in ${MGRS:-}; do daemons+=" mgr.$id:$("$DIR/bin/daemon-ctl.sh" "$DIR" status mgr "$id")"; done
      for id in ${OSDS:-}; do daemons+=" osd.$id:$("$DIR/bin/daemon-ctl.sh" "$DIR" status osd "$id")"; done
      faults=''
      for f in "$d"/faults/*; do [ -e "$f" ] && faults+="${f##*/} "; done
      printf '%s %-9s power %s  bmc %-4s udp/%s  sshd %-4s tcp/%s %s%s\n' "$NODE" "$NODE_HOSTNAME" \
        "$([ "$p" = 1 ] && echo on || echo off)" "$bmc" "$BMC_PORT" "$sshd" "$SSH_PORT" "$daemons" "${faults:+  faults: $faults}"
    done
    ceph -c "$CEPH_CONF" --connect-timeout 5 -s ;;
  bmc-stop) "$DIR/bin/bmc.sh" "$(node_dir "${1:-}")" stop ;;
  bmc-start)
    d=$(node_dir "${1:-}")
    "$DIR/bin/bmc.sh" "$d" start && "$DIR/bin/bmc.sh" "$d" wait ;;
  fault)
    d=$(node_dir "${1:-}")
    case "${2:-}" in osd-broken | no-boot | bmc-fail) ;; *) echo "fault: osd-broken|no-boot|bmc-fail" >&2; exit 2 ;; esac
    case "${3:-}" in
      on) touch "$d/faults/$2" ;;
      off) rm -f "$d/faults/$2" ;;
      *) echo "fault K NAME on|off" >&2; exit 2 ;;
    esac
    echo "node${1}: fault $2 ${3}" ;;
  rotate-hostkey | restore-hostkey)
    d=$(node_dir "${1:-}")
    key=$d/ssh/ssh_host_ed25519_key
    if [ "$cmd" = rotate-hostkey ]; then
      [ -f "$key.orig" ] || { cp -p "$key" "$key.orig"; cp -p "$key.pub" "$key.pub.orig"; }
      rm -f "$key" "$key.pub"
      ssh-keygen -q -t ed25519 -N '' -C "node$1-rotated-hostkey" -f "$key"
    else
      [ -f "$key.orig" ] || { echo "node$1 still has its original host key"; exit 0; }
      mv -f "$key.orig" "$key"; mv -f "$key.pub.orig" "$key.pub"
    fi
    "$DIR/bin/node-power.sh" "$d" sshd-stop >/dev/null
    "$DIR/bin/node-power.sh" "$d" sshd-start >/dev/null
    ssh-keygen -l -E sha256 -f "$key.pub" | awk '{print $2}' ;;
  osd | mon | mgr)
    case "${1:-}" in start | stop) ;; *) echo "$cmd start|stop ID" >&2; exit 2 ;; esac
    "$DIR/bin/daemon-ctl.sh" "$DIR" "$1" "$cmd" "${2:?$cmd id}" ;;
  boot) "$DIR/bin/node-power.sh" "$(node_dir "${1:-}")" boot ;;
  wait-clean) "$DIR/bin/ceph-wait.py" "$CEPH_CONF" "$LAB_NODES" "${1:-120}" ;;
  *) echo "unknown command $cmd (see the head of $0)" >&2; exit 2 ;;
esac
