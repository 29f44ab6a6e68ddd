# shellcheck shell=bash
# Shared helpers of the NodeFoundry lab scripts (sourced, never run). Copied into <lab>/bin by
# up.sh, so a running lab does not depend on the checkout it was started from.
#
# Process hygiene (LAB.md): the lab signals only processes it started, found by PID file or by
# the LAB_NODE_DIR=<node dir> tag in their environment, and only after checking the PID's command
# line or environment again right before signalling (PIDs are reused; PID 1 here reaps exited
# children lazily, so a dead daemon can linger as a zombie for seconds).

# alive PID: running and not a zombie.
alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

# cmdline PID: the command line with spaces for NULs ("" for zombies and gone processes).
cmdline() {
  tr '\0' ' ' 2>/dev/null < "/proc/$1/cmdline"
}

# cmd_is PID PREFIX: the live process PID's command line starts with PREFIX.
cmd_is() {
  local c
  alive "$1" || return 1
  c=$(cmdline "$1")
  [ -n "$c" ] && [ "${c#"$2"}" != "$c" ]
}

# tagged_pids NODEDIR: PIDs whose environment holds exactly LAB_NODE_DIR=NODEDIR, i.e. the
# processes "running on" that fake node (login sessions' commands, leftover commands, OSDs).
tagged_pids() {
  local f p
  while read -r f; do
    p=${f#/proc/}; p=${p%/environ}
    [ "$p" != "$$" ] && [ "$p" != "$BASHPID" ] && echo "$p"
  done < <(grep -lzxF "LAB_NODE_DIR=$1" /proc/[0-9]*/environ 2>/dev/null)
}

# pids_by_prefix PREFIX: live (non-zombie) processes whose command line starts with PREFIX.
pids_by_prefix() {
  local pid stat args
  while read -r pid stat args; do
    [ "${stat#Z}" = "$stat" ] && [ "${args#"$1"}" != "$args" ] && [ "$pid" != "$$" ] && echo "$pid"
  done < <(ps -eo pid=,stat=,args= 2>/dev/null | sed 's/$/ /')
}

# still_tagged NODEDIR PID: PID still carries the node's tag (re-checked before each signal).
still_tagged() {
  grep -qzxF "LAB_NODE_DIR=$1" "/proc/$2/environ" 2>/dev/null && alive "$2"
}

# is_sshd PID CONFIG: PID is the sshd listener started with that config. OpenSSH rewrites its
# command line ("sshd: /usr/sbin/sshd -D ... [listener] 0 of 100-200 startups") over the space
# that held its environment, so the listener and its session processes lose the node's tag in
# /proc/PID/environ; the commands they run get it again from sshd's SetEnv.
is_sshd() {
  cmd_is "$1" "/usr/sbin/sshd -D -e -f $2 " || cmd_is "$1" "sshd: /usr/sbin/sshd -D -e -f $2 "
}

# sshd_sessions PORT: sshd processes holding a TCP connection to 127.0.0.1:PORT (the per-connection
# sshd processes of a node, which outlive their listener).
sshd_sessions() {
  ss -Htnp state established "( sport = :$1 )" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
}

# node_pids NODEDIR: every process of a fake node: its sshd listener, its sshd session processes,
# and everything tagged LAB_NODE_DIR=NODEDIR (commands run over SSH, OSD daemons).
node_pids() {
  local p port
  port=$(sed -n 's/^SSH_PORT=//p' "$1/node.env" 2>/dev/null)
  {
    p=$(cat "$1/ssh/sshd.pid" 2>/dev/null) && [ -n "$p" ] && is_sshd "$p" "$1/ssh/sshd_config" && echo "$p"
    if [ -n "$port" ]; then
      for p in $(sshd_sessions "$port"); do cmd_is "$p" "sshd: " && echo "$p"; done
    fi
    tagged_pids "$1"
  } | sort -u
}

# node_pid_ok NODEDIR PID: re-check, right before a signal, that PID still is one of the node's.
node_pid_ok() {
  still_tagged "$1" "$2" || is_sshd "$2" "$1/ssh/sshd_config" || cmd_is "$2" "sshd: "
}

# wait_gone TIMEOUT_TENTHS PID...: waits until none of the PIDs is alive; false on timeout.
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

# port_busy tcp|udp PORT: something listens on 127.0.0.1:PORT (or on any address).
port_busy() {
  local flag=-Htln
  [ "$1" = udp ] && flag=-Huln
  ss "$flag" "sport = :$2" | grep -q .
}

# as_lab CMD...: runs CMD as the lab user (from root: setpriv, keeping nothing of root's groups).
as_lab() {
  if [ "$(id -u)" = 0 ] && [ "$(id -un)" != "$LAB_USER" ]; then
    setpriv --reuid="$LAB_USER" --regid="$LAB_USER" --init-groups -- "$@"
  else
    "$@"
  fi
}

# Each fake node has its own UTS namespace, hostname labnode<k>, kept by a bind mount of the
# namespace on NODEDIR/uts (no process needed to hold it; down.sh unmounts it). Everything the node
# runs (sshd and so its sessions, Ceph daemons) lives in it: `hostname` over SSH and Ceph's daemon
# metadata say labnode<k>, as on a real host. No other namespace: same network, PIDs, files.

# node_uts NODEDIR: the node's UTS namespace exists (created on first use; root only).
node_uts() {
  local host
  host=$(sed -n 's/^NODE_HOSTNAME=//p' "$1/node.env")
  [ -n "$host" ] || { echo "no NODE_HOSTNAME in $1/node.env" >&2; return 1; }
  uts_mounted "$1" && return 0
  touch "$1/uts"
  unshare --uts="$1/uts" hostname "$host"
}

# uts_mounted NODEDIR: NODEDIR/uts holds a namespace (an nsfs bind mount).
uts_mounted() {
  [ "$(findmnt -rn -o FSTYPE --mountpoint "$1/uts" 2>/dev/null)" = nsfs ]
}

# node_exec NODEDIR CMD...: runs CMD on the node: in its UTS namespace, as the lab user. From root
# (power, lab start-up) by entering the namespace; from the lab user, only from inside the node
# already (an SSH session on it: sshd runs in the namespace and its sessions inherit it).
node_exec() {
  local d=$1 host
  shift
  host=$(sed -n 's/^NODE_HOSTNAME=//p' "$d/node.env")
  if [ "$(id -u)" = 0 ]; then
    node_uts "$d" || return 1
    nsenter --uts="$d/uts" -- setpriv --reuid="$LAB_USER" --regid="$LAB_USER" --init-groups -- "$@"
  elif [ "$(hostname)" = "$host" ]; then
    "$@"
  else
    echo "not on $host (this is $(hostname)): its daemons start from an SSH session on it" >&2
    return 1
  fi
}

# node_root NODEDIR CMD...: runs CMD as root in the node's UTS namespace (its sshd).
node_root() {
  local d=$1
  shift
  node_uts "$d" && nsenter --uts="$d/uts" -- "$@"
}

# ts MESSAGE: a progress line with seconds since the script started.
ts() {
  local now=${EPOCHREALTIME/./}
  local d=$((now - ${LAB_T0:-$now}))
  printf '[%3d.%02ds] %s\n' $((d / 1000000)) $(((d / 10000) % 100)) "$*"
}
