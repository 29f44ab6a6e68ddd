#!/bin/bash
# What happens to a fake node when its BMC changes the power (started by chassis-hook.sh), and how
# the lab boots a node the first time:
#
#   node-power.sh NODEDIR off  GEN   power cut: every process of the node is SIGKILLed at once
#   node-power.sh NODEDIR soft GEN   ACPI shutdown: SIGTERM, then SIGKILL after SHUTDOWN_TIMEOUT s;
#                                    then the chassis is off (unless the power changed meanwhile)
#   node-power.sh NODEDIR on   GEN   power on: "boots" for BOOT_DELAY s, then its sshd, its mon,
#                                    mgr and OSDs start (unless the power changed again meanwhile)
#   node-power.sh NODEDIR boot       start sshd and the Ceph daemons now (lab start-up)
#   node-power.sh NODEDIR sshd-start | sshd-stop     the node's sshd alone (host key rotation)
#
# A node's processes are the ones tagged LAB_NODE_DIR=NODEDIR in their environment: its sshd (and so
# every login session and command it runs, through sshd's SetEnv), and its Ceph daemons (mon, mgr,
# OSDs), all in the node's UTS namespace (hostname labnode<k>, lib.sh node_uts).
# Faults (files in NODEDIR/faults): no-boot = the node never comes back after power on;
# osd-broken = its OSDs fail to start (at boot and through systemctl).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

# ipmi_sim's sockets (its UDP port among them) are not close-on-exec: they leak into the hook and
# everything it starts. A daemon started at power-on would then hold the BMC's port, and a restarted
# BMC could not bind it. Close every inherited descriptor but stdio (255: bash reads this script).
for fd in "/proc/$$/fd/"*; do
  fd=${fd##*/}
  if [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ]; then exec {fd}>&-; fi
done

d=${1:?usage: node-power.sh NODEDIR off|soft|on|boot|sshd-start|sshd-stop [GEN]}
action=${2:?action}
gen=${3:-}
# shellcheck source=/dev/null
. "$d/node.env"
SSHD_ARGV=(/usr/sbin/sshd -D -e -f "$d/ssh/sshd_config")

log() { printf '%s %s %s\n' "$(date +%T.%N)" "$NODE" "$*"; }

current_gen() { local g=0; [ -f "$d/powergen" ] && read -r g < "$d/powergen"; echo "$g"; }

sshd_pid() {
  local p
  [ -f "$d/ssh/sshd.pid" ] || return 1
  p=$(cat "$d/ssh/sshd.pid" 2>/dev/null) || return 1
  [ -n "$p" ] && is_sshd "$p" "$d/ssh/sshd_config" && echo "$p"
}

sshd_start() {
  local pid port_up=0
  if sshd_pid >/dev/null; then return 0; fi
  [ -d /run/sshd ] || { mkdir -p /run/sshd && chmod 0755 /run/sshd; }
  rm -f "$d/ssh/sshd.pid"
  node_uts "$d" || return 1
  # env -i: the daemon gets the node's tag and nothing of the caller's environment. nsenter execs
  # sshd (no fork without a PID namespace): $! is sshd.
  nohup nsenter --uts="$d/uts" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LAB_NODE_DIR="$d" "${SSHD_ARGV[@]}" \
    </dev/null >>"$d/ssh/sshd.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    if [ -s "$d/ssh/sshd.pid" ] && port_busy tcp "$SSH_PORT"; then port_up=1; break; fi
    alive "$pid" || break
    sleep 0.05
  done
  if [ $port_up = 0 ]; then
    log "sshd did not start; log tail:"; tail -5 "$d/ssh/sshd.log"
    return 1
  fi
  log "sshd up on 127.0.0.1:$SSH_PORT (pid $pid)"
}

sshd_stop() { # listener only: open sessions survive, as with a restart of sshd
  local p
  if p=$(sshd_pid); then
    kill -TERM "$p" 2>/dev/null
    wait_gone 50 "$p" || { is_sshd "$p" "$d/ssh/sshd_config" && kill -KILL "$p"; }
    log "sshd stopped (pid $p)"
  fi
  rm -f "$d/ssh/sshd.pid"
}

# daemons_start: the node's Ceph daemons, as its init would start them: mon, mgr, then OSDs.
daemons_start() {
  local id rc=0
  for id in ${MONS:-}; do "$here/daemon-ctl.sh" "$LAB_DIR" start mon "$id" || rc=1; done
  for id in ${MGRS:-}; do "$here/daemon-ctl.sh" "$LAB_DIR" start mgr "$id" || rc=1; done
  if [ -e "$d/faults/osd-broken" ]; then
    log "OSDs ${OSDS} do not start (fault osd-broken)"
  else
    for id in $OSDS; do "$here/daemon-ctl.sh" "$LAB_DIR" start osd "$id" || rc=1; done
  fi
  return $rc
}

# freeze_all: SIGSTOP every process of the node, again until no new one appears (a session forked
# meanwhile); prints their PIDs. Frozen, none can react to the others' deaths: a login session does
# not report its command killed (exit-signal), the listener accepts no connection — as at a power cut.
freeze_all() {
  local p new _ frozen=" "
  for _ in 1 2 3 4 5; do
    new=0
    while read -r p; do
      if [ -z "$p" ] || [ "${frozen/ $p /}" != "$frozen" ]; then continue; fi
      node_pid_ok "$d" "$p" && kill -STOP "$p" 2>/dev/null && frozen+="$p " && new=1
    done < <(node_pids "$d")
    [ $new = 0 ] && break
  done
  echo "$frozen"
}

# stop_all SIGNAL TIMEOUT_TENTHS: signal every process of the node, then SIGKILL what is left.
# SIGKILL is a power cut: every process is frozen first, then all are killed together.
stop_all() {
  local sig=$1 tenths=$2 p listener pids=() left=()
  listener=$(cat "$d/ssh/sshd.pid" 2>/dev/null)
  if [ "$sig" = KILL ]; then
    read -r -a pids <<<"$(freeze_all)"
    [ ${#pids[@]} -gt 0 ] && kill -KILL "${pids[@]}" 2>/dev/null
  else
    while read -r p; do [ -n "$p" ] && pids+=("$p"); done < <(node_pids "$d")
    for p in "${pids[@]}"; do node_pid_ok "$d" "$p" && kill "-$sig" "$p" 2>/dev/null; done
  fi
  [ ${#pids[@]} -gt 0 ] || { log "nothing running"; return 0; }
  if [ "$sig" != KILL ] && ! wait_gone "$tenths" "${pids[@]}"; then
    for p in "${pids[@]}"; do node_pid_ok "$d" "$p" && left+=("$p") && kill -KILL "$p" 2>/dev/null; done
    log "SIGKILLed after ${tenths}00 ms: ${left[*]}"
  fi
  wait_gone 50 "${pids[@]}" || log "still alive: ${pids[*]}"
  # A boot may have started a new sshd meanwhile: its pid file stays.
  [ "$(cat "$d/ssh/sshd.pid" 2>/dev/null)" = "$listener" ] && rm -f "$d/ssh/sshd.pid"
  log "stopped (SIG$sig): ${pids[*]}"
}

case "$action" in
  off)
    log "power off (gen $gen): cutting power"
    stop_all KILL 0 ;;
  soft)
    log "soft off (gen $gen): shutting down"
    stop_all TERM $((SHUTDOWN_TIMEOUT * 10))
    if [ "$(current_gen)" = "$gen" ]; then
      echo 0 > "$d/power"
      log "shut down: chassis off"
    else
      log "power changed during the shutdown (gen $(current_gen)): chassis left as it is"
    fi ;;
  on)
    log "power on (gen $gen): booting for ${BOOT_DELAY} s"
    sleep "$BOOT_DELAY"
    [ "$(current_gen)" = "$gen" ] || { log "power changed while booting (gen $(current_gen)): not starting"; exit 0; }
    [ -e "$d/faults/no-boot" ] && { log "does not boot (fault no-boot)"; exit 0; }
    (
      flock 9
      sshd_start
      daemons_start
    ) 9>"$d/power.lock"
    if [ "$(current_gen)" != "$gen" ]; then
      log "power changed while starting (gen $(current_gen)): stopping again"
      stop_all KILL 0
    else
      log "booted"
    fi ;;
  boot)
    sshd_start && daemons_start ;;
  sshd-start) sshd_start ;;
  sshd-stop) sshd_stop ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
