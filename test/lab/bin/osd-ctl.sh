#!/bin/bash
# One OSD daemon of the lab cluster, as systemd would handle `ceph-osd@ID`:
#   osd-ctl.sh LABDIR start ID    no-op if it runs; fails if its node has the osd-broken fault
#   osd-ctl.sh LABDIR stop ID     SIGTERM (the OSD tells the mon it goes down), SIGKILL after 10 s
#   osd-ctl.sh LABDIR status ID   prints active|inactive, exit 0|3 (systemctl is-active)
# Runs as root (node-power.sh) or as the lab user (the systemctl shim in an SSH session); the
# daemon always runs as the lab user, tagged LAB_NODE_DIR=<its node dir> so that the node's power
# takes it down.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

LABDIR=${1:?usage: osd-ctl.sh LABDIR start|stop|status ID}
verb=${2:?verb}
id=${3:?osd id}
# shellcheck source=/dev/null
. "$LABDIR/lab.env"
[[ "$id" =~ ^[0-9]+$ ]] || { echo "invalid OSD id $id" >&2; exit 2; }
osddir=$LABDIR/ceph/osd/ceph-$id
[ -f "$osddir/lab-node" ] || { echo "osd.$id is not an OSD of this lab" >&2; exit 5; }
nodedir=$(cat "$osddir/lab-node")
prefix="ceph-osd -c $CEPH_CONF -i $id "

osd_pid() {
  local p
  p=$(cat "$LABDIR/ceph/run/osd.$id.pid" 2>/dev/null)
  if [ -n "$p" ] && cmd_is "$p" "$prefix"; then echo "$p"; return 0; fi
  # No (valid) pid file, e.g. after a SIGKILL: look for the daemon by its command line.
  p=$(pids_by_prefix "$prefix" | head -1)
  [ -n "$p" ] && echo "$p"
}

case "$verb" in
  start)
    if pid=$(osd_pid); then echo "osd.$id already running (pid $pid)"; exit 0; fi
    if [ -e "$nodedir/faults/osd-broken" ]; then
      echo "osd.$id: ceph-osd failed to start (lab fault osd-broken on $(basename "$nodedir"))" >&2
      exit 1
    fi
    errlog=$LABDIR/ceph/log/osd.$id.stderr
    # Root (a power-on) and the lab user (systemctl over SSH) both start OSDs and append here.
    [ "$(id -u)" = 0 ] && { touch "$errlog"; chown "$LAB_USER:" "$errlog"; }
    # ceph-osd daemonizes; the parent returns once the child has initialised.
    as_lab env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LAB_NODE_DIR="$nodedir" \
      ceph-osd -c "$CEPH_CONF" -i "$id" </dev/null >>"$errlog" 2>&1
    rc=$?
    for _ in $(seq 1 100); do
      if pid=$(osd_pid); then echo "osd.$id started (pid $pid)"; exit 0; fi
      sleep 0.1
    done
    echo "osd.$id did not start (ceph-osd exit $rc); $LABDIR/ceph/log/osd.$id.log:" >&2
    tail -5 "$LABDIR/ceph/log/osd.$id.log" >&2
    exit 1 ;;
  stop)
    pid=$(osd_pid) || { echo "osd.$id not running"; exit 0; }
    kill -TERM "$pid"
    if ! wait_gone 100 "$pid"; then
      cmd_is "$pid" "$prefix" && kill -KILL "$pid"
      echo "osd.$id ignored SIGTERM for 10 s: SIGKILLed"
    fi
    echo "osd.$id stopped (pid $pid)" ;;
  status)
    if osd_pid >/dev/null; then echo active; exit 0; fi
    echo inactive; exit 3 ;;
  *) echo "unknown verb $verb" >&2; exit 2 ;;
esac
