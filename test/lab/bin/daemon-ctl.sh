#!/bin/bash
# One Ceph daemon of the lab cluster, as systemd would handle `ceph-osd@ID`, `ceph-mon@ID`,
# `ceph-mgr@ID` on the daemon's node:
#   daemon-ctl.sh LABDIR start TYPE ID    no-op if it runs; an OSD fails if its node has the
#                                         osd-broken fault
#   daemon-ctl.sh LABDIR stop TYPE ID     SIGTERM (an OSD tells the mon it goes down), SIGKILL after 10 s
#   daemon-ctl.sh LABDIR status TYPE ID   prints active|inactive, exit 0|3 (systemctl is-active)
# TYPE is osd, mon or mgr. Runs as root (node-power.sh, ctl.sh) or as the lab user (the systemctl
# shim in an SSH session on the node). The daemon always runs as the lab user, in its node's UTS
# namespace (hostname labnode<k>: Ceph records it as the daemon's host) and tagged
# LAB_NODE_DIR=<its node dir>, so that the node's power takes it down. Every start and stop is
# appended to <node dir>/daemons.log: "<epoch> stopping|stopped|starting|started|failed TYPE.ID [pid N]".
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

LABDIR=${1:?usage: daemon-ctl.sh LABDIR start|stop|status osd|mon|mgr ID}
verb=${2:?verb}
type=${3:?daemon type}
id=${4:?daemon id}
# shellcheck source=/dev/null
. "$LABDIR/lab.env"
case "$type" in
  osd) [[ "$id" =~ ^[0-9]+$ ]] || { echo "invalid OSD id $id" >&2; exit 2; } ;;
  mon | mgr) [[ "$id" =~ ^[a-z0-9][a-z0-9-]*$ ]] || { echo "invalid $type id $id" >&2; exit 2; } ;;
  *) echo "unknown daemon type $type (osd|mon|mgr)" >&2; exit 2 ;;
esac
name=$type.$id
datadir=$LABDIR/ceph/$type/ceph-$id
[ -f "$datadir/lab-node" ] || { echo "$name is not a daemon of this lab" >&2; exit 5; }
nodedir=$(cat "$datadir/lab-node")
prefix="ceph-$type -c $CEPH_CONF -i $id "

event() { printf '%s %s %s%s\n' "$(date +%s.%N)" "$1" "$name" "${2:+ pid $2}" >> "$nodedir/daemons.log"; }

daemon_pid() {
  local p
  p=$(cat "$LABDIR/ceph/run/$name.pid" 2>/dev/null)
  if [ -n "$p" ] && cmd_is "$p" "$prefix"; then echo "$p"; return 0; fi
  # No (valid) pid file, e.g. after a SIGKILL: look for the daemon by its command line.
  p=$(pids_by_prefix "$prefix" | head -1)
  [ -n "$p" ] && echo "$p"
}

case "$verb" in
  start)
    if pid=$(daemon_pid); then echo "$name already running (pid $pid)"; exit 0; fi
    event starting
    if [ "$type" = osd ] && [ -e "$nodedir/faults/osd-broken" ]; then
      event failed
      echo "$name: ceph-osd failed to start (lab fault osd-broken on $(basename "$nodedir"))" >&2
      exit 1
    fi
    errlog=$LABDIR/ceph/log/$name.stderr
    # Root (a power-on) and the lab user (systemctl over SSH) both start daemons and append here.
    [ "$(id -u)" = 0 ] && { touch "$errlog"; chown "$LAB_USER:" "$errlog"; }
    # ceph-* daemonizes; the parent returns once the child has initialised.
    node_exec "$nodedir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LAB_NODE_DIR="$nodedir" \
      "ceph-$type" -c "$CEPH_CONF" -i "$id" </dev/null >>"$errlog" 2>&1
    rc=$?
    for _ in $(seq 1 100); do
      if pid=$(daemon_pid); then event started "$pid"; echo "$name started (pid $pid)"; exit 0; fi
      sleep 0.1
    done
    event failed
    echo "$name did not start (ceph-$type exit $rc); $LABDIR/ceph/log/$name.log:" >&2
    tail -5 "$LABDIR/ceph/log/$name.log" "$errlog" >&2
    exit 1 ;;
  stop)
    pid=$(daemon_pid) || { echo "$name not running"; exit 0; }
    event stopping "$pid"
    kill -TERM "$pid"
    if ! wait_gone 100 "$pid"; then
      cmd_is "$pid" "$prefix" && kill -KILL "$pid"
      wait_gone 30 "$pid"
      echo "$name ignored SIGTERM for 10 s: SIGKILLed"
    fi
    event stopped "$pid"
    echo "$name stopped (pid $pid)" ;;
  status)
    if daemon_pid >/dev/null; then echo active; exit 0; fi
    echo inactive; exit 3 ;;
  *) echo "unknown verb $verb" >&2; exit 2 ;;
esac
