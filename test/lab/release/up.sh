#!/bin/bash
# Starts the release lab: LAB_NODES bare Debian trixie nodes with Ceph Reef 18.2.7 installed from
# packages and no cluster (NodeFoundry creates it), on 127.0.0.1 only. docs/lab.md#release-lab.
#
#   test/lab/release/up.sh DIR        (DIR absolute and short, e.g. /tmp/nfrel; a former lab there is
#                                      stopped and wiped first)
#   test/lab/release/down.sh DIR [--wipe]
#
# Node K (hostname labnodeK), see bin/lib.sh for the namespace model:
#   - root: an overlay over the cached Reef root (bases.sh), its own upper layer (its "disk");
#   - sshd on 127.0.0.1:LAB_PORT_BASE+K, root login with the lab's client key only
#     (DIR/client/id_ed25519), own ed25519 host key;
#   - LAB_DRIVES drives of LAB_DRIVE_GB GiB: loop devices over sparse files DIR/drives/*.img, seen in
#     the node as /dev/sdb, /dev/sdc, … (lsblk/smartctl shims: SATA SSDs, SMART passed);
#   - systemctl shim running the Debian ceph-{mon,mgr,osd}@ units (node-bin/systemctl);
#   - an ipmi_sim BMC on 127.0.0.1:LAB_PORT_BASE+50+K/udp (RMCP+, user admin) whose power really
#     acts: off kills every process of the node, on boots it after LAB_BOOT_DELAY s (sshd, then
#     every enabled unit);
#   - the Tentacle repository read-only at /srv/nflab/apt/tentacle (not an apt source).
# Ceph ports for the deployer: mons from LAB_PORT_BASE+100 (lab.json cephPortBase), daemons within
# [LAB_PORT_BASE+110, LAB_PORT_BASE+199] (cephPortRange).
#
# Environment: LAB_NODES (3), LAB_PORT_BASE (16500), LAB_DRIVES (2), LAB_DRIVE_GB (8),
# LAB_BOOT_DELAY (2 s), LAB_SHUTDOWN_TIMEOUT (5 s), LAB_BMC_PASSWORD (random), NF_LAB_CACHE.
# Exit codes: 2 usage, 3 missing packages/bases or not root, 4 ports busy, 1 anything else.
# Writes DIR/lab.json (everything a client needs) and DIR/lab.env.
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PACIFIC_BIN=$(cd "$HERE/../bin" && pwd)
# shellcheck source-path=SCRIPTDIR source=bin/lib.sh
. "$HERE/bin/lib.sh"
export LAB_T0=${EPOCHREALTIME/./}

DIR=${1:-}
case "$DIR" in /?*) ;; *) echo "usage: up.sh /absolute/lab/dir" >&2; exit 2 ;; esac
DIR=${DIR%/}
[ ${#DIR} -le 40 ] || { echo "lab dir path too long (max 40 characters): $DIR" >&2; exit 2; }
[[ "$DIR" =~ ^[A-Za-z0-9/._-]+$ ]] || { echo "lab dir path must be plain characters: $DIR" >&2; exit 2; }

NODES=${LAB_NODES:-3}
BASE=${LAB_PORT_BASE:-16500}
DRIVES=${LAB_DRIVES:-2}
DRIVE_GB=${LAB_DRIVE_GB:-8}
BOOT_DELAY=${LAB_BOOT_DELAY:-2}
SHUTDOWN_TIMEOUT=${LAB_SHUTDOWN_TIMEOUT:-5}
BMC_USER=admin
BMC_PASSWORD=${LAB_BMC_PASSWORD:-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')}
for v in NODES BASE DRIVES DRIVE_GB BOOT_DELAY SHUTDOWN_TIMEOUT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "LAB_$v must be a number" >&2; exit 2; }
done
[ "$NODES" -ge 1 ] && [ "$NODES" -le 9 ] || { echo "LAB_NODES must be 1..9" >&2; exit 2; }
[ "$DRIVES" -ge 1 ] && [ "$DRIVES" -le 8 ] || { echo "LAB_DRIVES must be 1..8" >&2; exit 2; }
[[ "$BMC_PASSWORD" =~ ^[A-Za-z0-9._-]{1,20}$ ]] || { echo "LAB_BMC_PASSWORD: 1-20 characters [A-Za-z0-9._-]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "the release lab must run as root (namespaces, loop devices, mounts)" >&2; exit 3; }
missing=()
for b in ipmi_sim ipmitool ssh-keygen losetup unshare nsenter flock ss truncate; do command -v "$b" >/dev/null || missing+=("$b"); done
[ ${#missing[@]} = 0 ] || { echo "missing: ${missing[*]} (apt-get install -y openipmi ipmitool openssh-client util-linux iproute2)" >&2; exit 3; }
if ! envs=$("$HERE/bases.sh" --env); then echo "run test/lab/release/bases.sh first (or bash .ci/run)" >&2; exit 3; fi
eval "$envs"
LOWER=$NF_LAB_REEF_ROOT
REPO=$NF_LAB_TENTACLE_REPO

if [ -e "$DIR" ]; then
  if [ -f "$DIR/lab.env" ]; then
    ts "stopping the former lab in $DIR"
    "$HERE/down.sh" "$DIR" --wipe >/dev/null || { echo "could not stop the former lab in $DIR" >&2; exit 1; }
  else
    for f in "$DIR"/* "$DIR"/.[!.]*; do
      [ -e "$f" ] && [ "$f" != "$DIR/owner" ] && { echo "$DIR exists and is not a lab directory: refusing to use it" >&2; exit 2; }
    done
  fi
fi
busy=()
for k in $(seq 1 "$NODES"); do
  port_busy tcp $((BASE + k)) && busy+=("tcp/$((BASE + k))")
  port_busy udp $((BASE + 50 + k)) && busy+=("udp/$((BASE + 50 + k))")
done
if ss -Htln "( sport >= :$((BASE + 100)) and sport <= :$((BASE + 199)) )" | grep -q .; then busy+=("tcp/$((BASE + 100))-$((BASE + 199))"); fi
[ ${#busy[@]} = 0 ] || { echo "ports in use: ${busy[*]} (choose another LAB_PORT_BASE)" >&2; exit 4; }

on_err() {
  local rc=$?
  trap - ERR
  ts "FAILED (exit $rc, line ${BASH_LINENO[0]}); log tails:" >&2
  for f in "$DIR"/nodes/*/power.log "$DIR"/nodes/*/holder.log "$DIR"/nodes/*/bmc/ipmi_sim.log "$DIR"/nodes/*/upper/var/log/nflab/sshd.log; do
    [ -s "$f" ] && { echo "== $f"; tail -5 "$f"; }
  done >&2
  "$HERE/down.sh" "$DIR" >&2 || true
  exit "$rc"
}
trap on_err ERR

mkdir -p "$DIR"/{bin,client,drives,nodes}
chmod 0755 "$DIR"
install -m 0755 "$HERE/bin/lib.sh" "$HERE/bin/node-power.sh" "$PACIFIC_BIN/bmc.sh" "$PACIFIC_BIN/chassis-hook.sh" "$DIR/bin/"
chmod 0700 "$DIR/client"
ssh-keygen -q -t ed25519 -N '' -C nodefoundry-release-lab-client -f "$DIR/client/id_ed25519"
cat >"$DIR/lab.env" <<EOF
# NodeFoundry release lab in $DIR (sourced by the lab scripts)
LAB_DIR=$DIR
LAB_NODES=$NODES
LAB_PORT_BASE=$BASE
LAB_LOWER=$LOWER
LAB_REPO=$REPO
EOF

# holder_start NODEDIR K: the node's namespace, mounts and holder process (see bin/lib.sh)
holder_start() {
  local d=$1 k=$2
  ( setsid unshare --mount --uts --propagation private --fork -- /bin/bash -c '
    set -e
    d=$1; k=$2; lower=$3; repo=$4; nodebin=$5
    r=$d/root
    hostname "labnode$k"
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$d/upper,workdir=$d/work" "$r"
    mkdir -p "$r/nflab" "$r/srv/nflab/apt/tentacle" "$r/usr/local/bin"
    mount -t proc proc "$r/proc"
    mount --rbind /sys "$r/sys"
    # a private /dev: the usual character devices, a pty instance, shm, and the node drives only
    mount -t tmpfs -o mode=0755,size=16m tmpfs "$r/dev"
    for n in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
      IFS=: read -r name ma mi <<<"$n"; mknod -m 0666 "$r/dev/$name" c "$ma" "$mi"
    done
    mkdir -p "$r/dev/pts" "$r/dev/shm"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$r/dev/pts"
    ln -s pts/ptmx "$r/dev/ptmx"
    mount -t tmpfs -o mode=1777 tmpfs "$r/dev/shm"
    ln -s /proc/self/fd "$r/dev/fd"; ln -s /proc/self/fd/0 "$r/dev/stdin"; ln -s /proc/self/fd/1 "$r/dev/stdout"; ln -s /proc/self/fd/2 "$r/dev/stderr"
    while read -r name loop; do
      mm=$(cat "/sys/block/$loop/dev")
      mknod -m 0660 "$r/dev/$name" b "${mm%:*}" "${mm#*:}"
      chgrp disk "$r/dev/$name"
    done < "$d/drives"
    mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
    mount -t tmpfs -o mode=0755,size=64m tmpfs "$r/run"
    mount --bind "$d/hw" "$r/nflab"; mount -o remount,bind,ro "$r/nflab"
    mount --bind "$d/faults" "$r/nflab/faults"; mount -o remount,bind,ro "$r/nflab/faults"
    mount --bind "$nodebin" "$r/usr/local/bin"; mount -o remount,bind,ro "$r/usr/local/bin"
    mount --bind "$repo" "$r/srv/nflab/apt/tentacle"; mount -o remount,bind,ro "$r/srv/nflab/apt/tentacle"
    echo $$ > "$d/holder.pid"
    exec chroot "$r" /bin/sleep infinity
  ' bash "$d" "$k" "$LOWER" "$REPO" "$HERE/node-bin" </dev/null >"$d/holder.log" 2>&1 & )
  for _ in $(seq 1 100); do holder_pid "$d" >/dev/null && return 0; sleep 0.05; done
  echo "node $k: holder did not start" >&2; cat "$d/holder.log" >&2; return 1
}

nodes_json=''
letters=(b c d e f g h i)
for k in $(seq 1 "$NODES"); do
  d=$DIR/nodes/node$k
  host=labnode$k
  ssh_port=$((BASE + k))
  bmc_port=$((BASE + 50 + k))
  mkdir -p "$d"/{upper,work,root,hw/faults,faults,bmc/state} "$d/upper/etc/ssh" "$d/upper/root/.ssh" "$d/upper/var/log/nflab"
  # drives: sparse files on loop devices, sdb, sdc, … in the node
  : >"$d/drives"
  drive_names=() loop_names=() pairs=''
  for j in $(seq 1 "$DRIVES"); do
    name=sd${letters[j - 1]}
    img=$DIR/drives/node$k-$name.img
    truncate -s "${DRIVE_GB}G" "$img"
    loop=$(losetup -f --show "$img")
    loop=${loop#/dev/}
    echo "$name $loop" >>"$d/drives"
    drive_names+=("\"$name\"")
    loop_names+=("\"$loop\"")
    pairs+="${pairs:+ }$name:$loop"
  done
  cat >"$d/node.env" <<EOF
# release-lab node $k in $DIR (host side; sourced by the lab scripts and the BMC's hook)
LAB_DIR=$DIR
NODE=node$k
NODE_HOSTNAME=$host
SSH_PORT=$ssh_port
BMC_PORT=$bmc_port
BOOT_DELAY=$BOOT_DELAY
SHUTDOWN_TIMEOUT=$SHUTDOWN_TIMEOUT
EOF
  cat >"$d/hw/node.env" <<EOF
# this node's simulated hardware (read by the lab's shims in /usr/local/bin)
NFLAB_NODE=node$k
NFLAB_HOSTNAME=$host
NFLAB_DRIVES="$pairs"
EOF
  # the node's identity, on its own disk (the overlay's upper layer)
  echo "$host" >"$d/upper/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$host" >"$d/upper/etc/hosts"
  ssh-keygen -q -t ed25519 -N '' -C "root@$host" -f "$d/upper/etc/ssh/ssh_host_ed25519_key"
  install -m 0600 "$DIR/client/id_ed25519.pub" "$d/upper/root/.ssh/authorized_keys"
  chmod 0700 "$d/upper/root" "$d/upper/root/.ssh"
  cat >"$d/upper/etc/ssh/sshd_config" <<EOF
# sshd of release-lab node $k ($host)
ListenAddress 127.0.0.1:$ssh_port
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
PrintLastLog no
UseDNS no
X11Forwarding no
MaxStartups 100:30:200
MaxSessions 50
LoginGraceTime 20
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
  holder_start "$d" "$k"
  node_exec "$d" /bin/sh -c "mkdir -p /run/sshd && /usr/sbin/sshd -t"

  echo 1 >"$d/power"
  echo 0 >"$d/powergen"
  echo default >"$d/boot"
  for f in actions.log gets.log power.log; do : >"$d/$f"; done
  cat >"$d/bmc/lan.conf" <<EOF
name "node$k"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 $bmc_port
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid $(printf 'fa4eb3c0000000000000000001%06x' "$k")
  endlan
  chassis_control "$DIR/bin/chassis-hook.sh $d"
  user 2 true "$BMC_USER" "$BMC_PASSWORD" admin 10 none md2 md5 straight
EOF
  cat >"$d/bmc/node.emu" <<EOF
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
EOF
  chmod 0600 "$d/bmc/lan.conf"
  fp=$(ssh-keygen -l -E sha256 -f "$d/upper/etc/ssh/ssh_host_ed25519_key.pub" | awk '{print $2}')
  drives_json=$(IFS=,; echo "${drive_names[*]}")
  loops_json=$(IFS=,; echo "${loop_names[*]}")
  node_json=$(printf '\n    {"name": "node%s", "hostname": "%s", "dir": "%s",\n     "ssh": {"host": "127.0.0.1", "port": %s, "user": "root", "fingerprint": "%s"},\n     "bmc": {"host": "127.0.0.1", "port": %s, "username": "%s", "password": "%s"},\n     "drives": [%s], "loops": [%s]}' \
    "$k" "$host" "$d" "$ssh_port" "$fp" "$bmc_port" "$BMC_USER" "$BMC_PASSWORD" "$drives_json" "$loops_json")
  nodes_json+="${nodes_json:+,}$node_json"
done
ts "$NODES nodes: namespaces, overlays over $(basename "$LOWER"), $DRIVES drives each"

pids=()
for k in $(seq 1 "$NODES"); do
  d=$DIR/nodes/node$k
  "$DIR/bin/bmc.sh" "$d" start >/dev/null
  "$DIR/bin/node-power.sh" "$d" boot >>"$d/power.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for k in $(seq 1 "$NODES"); do
  "$DIR/bin/bmc.sh" "$DIR/nodes/node$k" wait
  : >"$DIR/nodes/node$k/gets.log"
  for _ in $(seq 1 100); do port_busy tcp $((BASE + k)) && break; sleep 0.05; done
  port_busy tcp $((BASE + k)) || { echo "node$k: sshd does not listen on $((BASE + k))" >&2; false; }
done
ts "BMCs on udp/$((BASE + 51))..$((BASE + 50 + NODES)); sshd on tcp/$((BASE + 1))..$((BASE + NODES))"

cat >"$DIR/lab.json" <<EOF
{
  "dir": "$DIR",
  "clientKey": "$DIR/client/id_ed25519",
  "cephPortBase": $((BASE + 100)),
  "cephPortRange": [$((BASE + 110)), $((BASE + 199))],
  "release": "reef",
  "cephVersion": "$NF_LAB_REEF_VERSION",
  "upgradeRepo": {"tentacle": "deb [trusted=yes] file:/srv/nflab/apt/tentacle ./"},
  "upgradeVersion": {"tentacle": "$NF_LAB_TENTACLE_VERSION"},
  "nodes": [$nodes_json
  ]
}
EOF
trap - ERR
ts "lab up: $DIR/lab.json"
