#!/bin/sh
# chassis_control hook of a lab BMC (OpenIPMI ipmi_sim 2.0.33). ipmi_sim runs it through popen()
# (/bin/sh -c), synchronously in its single event loop, as:
#   chassis-hook.sh NODEDIR get power             -> prints "power:0|1"
#   chassis-hook.sh NODEDIR get boot              -> prints "boot:<device>"
#   chassis-hook.sh NODEDIR set power "0|1"       ipmitool chassis power off|on
#                                                 (power cycle = set 0, then set 1 1 s later)
#   chassis-hook.sh NODEDIR set reset "1"         ipmitool chassis power reset
#   chassis-hook.sh NODEDIR set shutdown "1"      ipmitool chassis power soft
#   chassis-hook.sh NODEDIR set boot "pxe"        ipmitool chassis bootdev pxe|disk|...
#   chassis-hook.sh NODEDIR set identify "15 0"   ipmitool chassis identify
# A non-zero exit makes the BMC answer completion code 0xFF ("Unspecified error").
#
# State in NODEDIR: power (0|1), boot, powergen (bumped on every real power transition).
# Every "set" appends "<epoch.ns> <action> [arg]" to NODEDIR/actions.log, action one of
# on off soft reset bootdev identify. A "get" appends only "get <parm>" to gets.log (no fork: the
# hook blocks the BMC while it runs, and status is polled).
# NODEDIR/faults/bmc-fail makes every call fail (a BMC that answers but cannot act).
#
# The power really acts, through node-power.sh (stdout/stderr to NODEDIR/power.log; ipmi_sim waits
# until the popen pipe closes, so nothing may keep it open): off -> the node's processes are frozen
# and killed before the BMC answers; soft -> (detached) they are stopped gracefully (SIGTERM, then
# SIGKILL) and the chassis reads "off" once they are gone; on -> (detached) after the boot delay
# its sshd and its daemons start again.

d=$1
op=$2
shift 2
if [ -z "$d" ] || [ ! -d "$d" ]; then echo "no node dir"; exit 1; fi
[ -e "$d/faults/bmc-fail" ] && { echo "forced failure"; exit 1; }

fire() { # fire off|soft|on|reset: bump the power generation and act on the node, detached
  g=0
  [ -f "$d/powergen" ] && read -r g < "$d/powergen"
  g=$((g + 1))
  echo "$g" > "$d/powergen"
  # A power cut is over before the BMC answers (it takes well under a second: no process may still
  # accept a connection once ipmitool has returned); shutdown and boot go on detached.
  case "$1" in
    off) "${0%/*}/node-power.sh" "$d" off "$g" </dev/null >>"$d/power.log" 2>&1 ;;
    reset)
      "${0%/*}/node-power.sh" "$d" off "$g" </dev/null >>"$d/power.log" 2>&1
      nohup "${0%/*}/node-power.sh" "$d" on "$g" </dev/null >>"$d/power.log" 2>&1 & ;;
    *) nohup "${0%/*}/node-power.sh" "$d" "$1" "$g" </dev/null >>"$d/power.log" 2>&1 & ;;
  esac
}

case "$op" in
  get)
    echo "get $*" >> "$d/gets.log"
    for p in "$@"; do
      case "$p" in
        power) v=0; [ -f "$d/power" ] && read -r v < "$d/power"; echo "power:$v" ;;
        boot) v=default; [ -f "$d/boot" ] && read -r v < "$d/boot"; echo "boot:$v" ;;
        *) echo "Invalid parameter: $p"; exit 1 ;;
      esac
    done
    ;;
  set)
    now=$(date +%s.%N)
    while [ $# -gt 1 ]; do
      p=$1
      v=$2
      shift 2
      prev=0
      [ -f "$d/power" ] && read -r prev < "$d/power"
      case "$p" in
        power)
          echo "$v" > "$d/power"
          if [ "$v" = 1 ]; then a=on; else a=off; fi
          echo "$now $a" >> "$d/actions.log"
          [ "$prev" != "$v" ] && fire "$a" ;;
        reset)
          echo "$now reset" >> "$d/actions.log"
          [ "$prev" = 1 ] && fire reset ;;
        shutdown)
          # ACPI soft-off: the OS shuts down (node-power.sh stops the node's processes gracefully)
          # and only then is the chassis off; until then status still reads "on".
          echo "$now soft" >> "$d/actions.log"
          [ "$prev" = 1 ] && fire soft ;;
        boot)
          echo "$v" > "$d/boot"
          echo "$now bootdev $v" >> "$d/actions.log" ;;
        identify)
          echo "$now identify $v" >> "$d/actions.log" ;;
        *) echo "Invalid parameter: $p"; exit 1 ;;
      esac
    done
    ;;
  check) exit 1 ;;
  *) echo "Unknown operation: $op"; exit 1 ;;
esac
exit 0
