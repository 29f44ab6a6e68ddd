#!/bin/bash
# What a release-lab node does when its BMC changes the power (run by the BMC's chassis hook,
# test/lab/bin/chassis-hook.sh, installed beside this file), and its first boot:
#
#   node-power.sh NODEDIR off  GEN   power cut: every process of the node (all but its holder:
#                                    sshd, sessions, Ceph daemons) frozen, then SIGKILLed together
#   node-power.sh NODEDIR soft GEN   ACPI shutdown: SIGTERM, SIGKILL after SHUTDOWN_TIMEOUT s, then
#                                    the chassis reads off (unless the power changed meanwhile)
#   node-power.sh NODEDIR on   GEN   power on: BOOT_DELAY s, then nflab-boot in the node (sshd, then
#                                    every enabled unit), unless the power changed again meanwhile
#   node-power.sh NODEDIR boot       nflab-boot now (lab start-up)
# The holder keeps the node's namespace, so its disks (overlay upper, loop devices) and what was
# mounted in it survive a power cycle; /run is emptied at boot, as a tmpfs is on a real host.
# Faults (NODEDIR/faults): no-boot = the node never comes back after power on.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
# ipmi_sim's sockets are not close-on-exec: close every inherited descriptor but stdio, so nothing
# started from here holds the BMC's port.
for fd in "/proc/$$/fd/"*; do
  fd=${fd##*/}
  if [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ]; then exec {fd}>&-; fi
done

d=${1:?usage: node-power.sh NODEDIR off|soft|on|boot [GEN]}
action=${2:?action}
gen=${3:-}
# shellcheck source=/dev/null
. "$d/node.env"
log() { printf '%s %s %s\n' "$(date +%T.%N)" "$NODE" "$*"; }
current_gen() { local g=0; [ -f "$d/powergen" ] && read -r g <"$d/powergen"; echo "$g"; }

freeze_all() { # SIGSTOP every process of the node, again until none appears; prints their PIDs
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

stop_all() { # SIGNAL TENTHS
  local sig=$1 tenths=$2 p pids=() left=()
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
  # a process forked while the others died (a session's child): one more pass
  read -r -a pids <<<"$(freeze_all)"
  [ ${#pids[@]} -gt 0 ] && kill -KILL "${pids[@]}" 2>/dev/null && wait_gone 50 "${pids[@]}"
  log "stopped (SIG$sig)"
}

boot() {
  local out
  if out=$(node_exec "$d" /usr/local/bin/nflab-boot 2>&1); then log "booted${out:+: $out}"; else log "boot failed: $out"; return 1; fi
}

case "$action" in
  off)
    log "power off (gen $gen): cutting power"
    stop_all KILL 0 ;;
  soft)
    log "soft off (gen $gen): shutting down"
    stop_all TERM $((SHUTDOWN_TIMEOUT * 10))
    if [ "$(current_gen)" = "$gen" ]; then
      echo 0 >"$d/power"
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
      boot
    ) 9>"$d/power.lock"
    if [ "$(current_gen)" != "$gen" ]; then
      log "power changed while starting (gen $(current_gen)): stopping again"
      stop_all KILL 0
    fi ;;
  boot) boot ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
