# shellcheck shell=bash
# Host-side helpers of the release lab (sourced by up.sh, down.sh, ctl.sh, bin/node-power.sh and,
# installed in DIR/bin, by the Pacific lab's bmc.sh and chassis-hook.sh, whose names it provides).
#
# Node K of a lab in DIR is one holder process (`/bin/sleep infinity`, chrooted) in its own mount
# and UTS namespaces (hostname labnodeK), started by `unshare --mount --uts --fork`. In that
# namespace: an overlay root (lower = the cached Reef root, upper = DIR/nodes/nodeK/upper), /proc,
# /sys, a private /dev holding only the node's drives (and null, zero, random, pts, …), tmpfs /tmp
# and /run, the lab's node tools read-only on /usr/local/bin, the node's facts on /nflab, and the
# Tentacle repository read-only on /srv/nflab/apt/tentacle. Nothing is mounted in the host's
# namespace: when the holder and the node's processes are gone, so are the mounts.
# A process belongs to node K iff its /proc/PID/ns/mnt is the holder's (checked before any signal);
# the holder's parent (`unshare --fork`, in the namespace too) is not one of the node's processes.

alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null; }
# cmd_is PID PREFIX: PID is alive and its command line starts with PREFIX
cmd_is() {
  local c
  alive "$1" || return 1
  c=$(cmdline "$1")
  [ -n "$c" ] && [ "${c#"$2"}" != "$c" ]
}
pids_by_prefix() {
  local pid stat args
  while read -r pid stat args; do
    [ "${stat#Z}" = "$stat" ] && [ "${args#"$1"}" != "$args" ] && [ "$pid" != "$$" ] && echo "$pid"
  done < <(ps -eo pid=,stat=,args= 2>/dev/null | sed 's/$/ /')
}
# wait_gone TENTHS PID...: until none of the PIDs is alive; false on timeout
wait_gone() {
  local n=$1 p any
  shift
  while [ "$n" -gt 0 ]; do
    any=0
    for p in "$@"; do alive "$p" && any=1; done
    [ $any = 0 ] && return 0
    sleep 0.1
    n=$((n - 1))
  done
  return 1
}
port_busy() {
  local flag=-Htln
  [ "$1" = udp ] && flag=-Huln
  ss "$flag" "sport = :$2" | grep -q .
}
ts() {
  local now=${EPOCHREALTIME/./}
  local d=$((now - ${LAB_T0:-$now}))
  printf '[%3d.%02ds] %s\n' $((d / 1000000)) $(((d / 10000) % 100)) "$*"
}

# holder_pid NODEDIR -> the node's holder, if it runs
holder_pid() {
  local p
  p=$(cat "$1/holder.pid" 2>/dev/null) || return 1
  [ -n "$p" ] && alive "$p" && [ "$(cmdline "$p")" = "/bin/sleep infinity " ] &&
    [ "$(readlink "/proc/$p/root")" = "$1/root" ] && echo "$p"
}

# node_pids NODEDIR: every process in the node's mount namespace but the holder and its parent
node_pids() {
  local h m u p
  h=$(holder_pid "$1") || return 0
  m=$(readlink "/proc/$h/ns/mnt") || return 0
  u=$(awk '{print $4}' "/proc/$h/stat" 2>/dev/null)
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" != "$h" ] && [ "$p" != "$u" ] && [ "$p" != "$$" ] && [ "$(readlink "/proc/$p/ns/mnt" 2>/dev/null)" = "$m" ] &&
      alive "$p" && echo "$p"
  done
}
# node_pid_ok NODEDIR PID: PID still is one of the node's (re-checked right before a signal)
node_pid_ok() {
  local h
  h=$(holder_pid "$1") || return 1
  [ "$2" != "$h" ] && alive "$2" && [ "$(readlink "/proc/$2/ns/mnt" 2>/dev/null)" = "$(readlink "/proc/$h/ns/mnt")" ]
}

# node_exec NODEDIR CMD...: CMD as root on the node (its mounts, hostname, root; a clean environment)
node_exec() {
  local d=$1 h
  shift
  h=$(holder_pid "$d") || { echo "node $(basename "$d") is not running (no holder)" >&2; return 1; }
  nsenter -t "$h" -m -u -r -w -- /usr/bin/env -i PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
