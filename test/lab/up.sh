#!/bin/bash
# Starts the NodeFoundry lab: fake bare-metal nodes and a real Ceph cluster, on loopback only.
#
#   test/lab/up.sh DIR        (DIR: a new or former lab directory, absolute, short: /tmp/nflab)
#   test/lab/down.sh DIR [--wipe]
#
# Per node k (1..LAB_NODES), everything in the node's own UTS namespace (hostname labnode<k>):
#   - an OpenSSH sshd on 127.0.0.1:BASE+k with its own ed25519 host key; login user LAB_USER
#     (/bin/sh, key-only: the lab's client key DIR/client/id_ed25519); sessions get PATH with the
#     lab's `systemctl` first, and (admin node, k=1) CEPH_CONF so `ceph` works;
#   - an OpenIPMI ipmi_sim BMC on 127.0.0.1:BASE+50+k/udp (RMCP+, user admin, LAB_BMC_PASSWORD or
#     a random password), whose chassis power hook really acts on the node (bin/chassis-hook.sh);
#   - one OSD of the cluster (osd.k-1), in the CRUSH host labnode<k>;
#   - on nodes 1-3 a mon (mon.labnode<k> on 127.0.0.1:BASE+99+k: quorum survives one node down;
#     with 2 nodes, one mon on node 1), on nodes 1 and 2 a mgr (mgr.labnode<k>; labnode1 starts
#     first and is the active one).
# The Ceph cluster (16.2 from Debian): those mons, mgrs and OSDs (bluestore on sparse files by
# default: data survives a node's reboot), every daemon run as LAB_USER; a replicated pool
# (size 2) holding LAB_DATA_MB of objects, so drains and recovery move real PGs. A node's power
# takes all its daemons down, and brings them back; the systemctl shim restarts them one by one.
#
# Environment: LAB_NODES (3), LAB_PORT_BASE (16200), LAB_USER (nflab, created if missing),
# LAB_STORE (bluestore|memstore), LAB_BOOT_DELAY (2 s), LAB_SHUTDOWN_TIMEOUT (5 s),
# LAB_BMC_PASSWORD, LAB_POOL (labdata), LAB_PG_NUM (16), LAB_DATA_MB (96), LAB_WAIT (180 s).
# Exit codes: 2 usage, 3 missing packages or not root, 4 ports busy, 1 anything else.
# Writes DIR/lab.json (everything a client needs) and DIR/lab.env; progress goes to stdout.
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=bin/lib.sh
. "$HERE/bin/lib.sh"
export LAB_T0=${EPOCHREALTIME/./}

DIR=${1:-}
case "$DIR" in /?*) ;; *) echo "usage: up.sh /absolute/lab/dir" >&2; exit 2 ;; esac
DIR=${DIR%/}
# ceph admin sockets live under DIR and UNIX socket paths are limited to 107 bytes
[ ${#DIR} -le 48 ] || { echo "lab dir path too long (max 48 characters): $DIR" >&2; exit 2; }
[[ "$DIR" =~ ^[A-Za-z0-9/._-]+$ ]] || { echo "lab dir path must be plain characters: $DIR" >&2; exit 2; }

NODES=${LAB_NODES:-3}
BASE=${LAB_PORT_BASE:-16200}
LAB_USER=${LAB_USER:-nflab}
STORE=${LAB_STORE:-bluestore}
BOOT_DELAY=${LAB_BOOT_DELAY:-2}
SHUTDOWN_TIMEOUT=${LAB_SHUTDOWN_TIMEOUT:-5}
BMC_USER='admin'
BMC_PASSWORD=${LAB_BMC_PASSWORD:-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')}
POOL=${LAB_POOL:-labdata}
PG_NUM=${LAB_PG_NUM:-16}
DATA_MB=${LAB_DATA_MB:-96}
WAIT=${LAB_WAIT:-180}
MON_PORT=$((BASE + 100))
# mons on the first 3 nodes (a quorum that survives one node down); with 2 nodes, on node 1 only
MONS=3
[ "$NODES" -lt 3 ] && MONS=1
MGRS=2

if ! [[ "$NODES" =~ ^[0-9]+$ ]] || [ "$NODES" -lt 2 ] || [ "$NODES" -gt 40 ]; then echo "LAB_NODES must be 2..40 (pools keep 2 copies on 2 hosts)" >&2; exit 2; fi
case "$STORE" in bluestore | memstore) ;; *) echo "LAB_STORE must be bluestore or memstore" >&2; exit 2 ;; esac
[[ "$BMC_PASSWORD" =~ ^[A-Za-z0-9._-]{1,20}$ ]] || { echo "LAB_BMC_PASSWORD: 1-20 characters [A-Za-z0-9._-]" >&2; exit 2; }

PACKAGES="openipmi ipmitool openssh-server ceph-mon ceph-mgr ceph-osd ceph-common"
if [ "$(id -u)" != 0 ]; then
  echo "the lab must run as root (it starts sshd and creates the login user $LAB_USER)" >&2
  exit 3
fi
missing=()
for b in ipmi_sim sdrcomp ipmitool /usr/sbin/sshd ssh-keygen ceph ceph-mon ceph-mgr ceph-osd ceph-authtool monmaptool rados python3 setpriv flock ss unshare nsenter findmnt umount hostname; do
  command -v "$b" >/dev/null || missing+=("$b")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing: ${missing[*]}. Install the lab's Debian packages: bash .ci/run, or" >&2
  echo "  apt-get install -y --no-install-recommends $PACKAGES" >&2
  echo "  (unshare, nsenter, findmnt, setpriv, flock: util-linux; umount: mount; hostname: hostname; ss: iproute2)" >&2
  exit 3
fi
# One UTS namespace per node (hostname labnode<k>): the kernel must allow it here.
if ! unshare --uts true 2>/dev/null; then
  echo "cannot create a UTS namespace (unshare --uts): the lab needs root with CAP_SYS_ADMIN" >&2
  exit 3
fi

# A former lab in DIR is stopped and wiped first; anything else there is left alone (except an
# `owner` file: the test helper names the test run that owns the lab before starting it).
if [ -e "$DIR" ]; then
  if [ -f "$DIR/lab.env" ]; then
    ts "stopping the former lab in $DIR"
    "$HERE/down.sh" "$DIR" --wipe || { echo "could not stop the former lab in $DIR" >&2; exit 1; }
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
if ss -Htln "( sport >= :$MON_PORT and sport <= :$((MON_PORT + 199)) )" | grep -q .; then busy+=("tcp/$MON_PORT-$((MON_PORT + 199))"); fi
if [ ${#busy[@]} -gt 0 ]; then echo "ports in use: ${busy[*]} (choose another LAB_PORT_BASE)" >&2; exit 4; fi

on_err() {
  local rc=$?
  trap - ERR
  ts "FAILED (exit $rc, line ${BASH_LINENO[0]}); log tails:" >&2
  for f in "$DIR"/ceph/log/*.log "$DIR"/nodes/*/ssh/sshd.log "$DIR"/nodes/*/bmc/ipmi_sim.log "$DIR"/nodes/*/power.log; do
    [ -s "$f" ] && { echo "== $f"; tail -5 "$f"; }
  done >&2
  "$HERE/down.sh" "$DIR" >&2 || true
  exit "$rc"
}
trap on_err ERR

# ---- login user -----------------------------------------------------------------------------------
# A /bin/sh user, not root: Debian's bash sources ~/.bashrc for every command sshd runs (LAB.md:
# ~100 ms per exec as root here). Home "/" so sshd has a directory to chdir to and the lab keeps
# no state outside DIR.
if ! getent passwd "$LAB_USER" >/dev/null; then
  useradd --system --no-create-home --home-dir / --shell /bin/sh --user-group "$LAB_USER"
  ts "created user $LAB_USER"
fi
# useradd leaves the password "!" (locked): with UsePAM no, sshd then refuses even key logins.
if [ "$(getent shadow "$LAB_USER" | cut -d: -f2)" != '*' ]; then usermod -p '*' "$LAB_USER"; fi
[ "$(getent passwd "$LAB_USER" | cut -d: -f7)" = /bin/sh ] || usermod -s /bin/sh "$LAB_USER"

# ---- layout ---------------------------------------------------------------------------------------
mkdir -p "$DIR"/{bin,node-bin,client,ceph/run,ceph/log,ceph/crash,ceph/mon,ceph/mgr,ceph/osd,ceph/tmp,nodes}
chmod 0755 "$DIR"
install -m 0755 "$HERE"/bin/{lib.sh,bmc.sh,chassis-hook.sh,node-power.sh,daemon-ctl.sh,ceph-wait.py} "$DIR/bin/"
install -m 0755 "$HERE/bin/systemctl" "$DIR/node-bin/systemctl"
chmod 0700 "$DIR/client"
ssh-keygen -q -t ed25519 -N '' -C nodefoundry-lab-client -f "$DIR/client/id_ed25519"
CONF=$DIR/ceph/ceph.conf
ADMIN_KR=$DIR/ceph/ceph.client.admin.keyring
cat > "$DIR/lab.env" <<EOF
# NodeFoundry lab in $DIR (sourced by the lab scripts)
LAB_DIR=$DIR
LAB_USER=$LAB_USER
LAB_NODES=$NODES
LAB_PORT_BASE=$BASE
CEPH_CONF=$CONF
EOF
cat > "$DIR/env" <<EOF
# source me: plain 'ceph' and 'rados' then talk to the lab cluster
export CEPH_CONF=$CONF
export CEPH_ARGS="--connect-timeout 15"
EOF

# ---- nodes: directories, identity, UTS namespaces ------------------------------------------------
# node k: hostname labnode<k>, osd.k-1, mon.labnode<k> (k <= MONS), mgr.labnode<k> (k <= MGRS)
mon_host=''
for k in $(seq 1 "$NODES"); do
  d=$DIR/nodes/node$k
  mkdir -p "$d/ssh" "$d/bmc/state" "$d/faults"
  chmod 0755 "$d" "$d/ssh"
  mons=''; mgrs=''
  if [ "$k" -le "$MONS" ]; then
    mons=labnode$k
    mon_host+="${mon_host:+,}[v2:127.0.0.1:$((MON_PORT + k - 1))]"
  fi
  [ "$k" -le "$MGRS" ] && mgrs=labnode$k
  cat > "$d/node.env" <<EOF
# fake node $k of the lab in $DIR (sourced by the lab scripts)
LAB_DIR=$DIR
LAB_USER=$LAB_USER
NODE=node$k
NODE_HOSTNAME=labnode$k
SSH_PORT=$((BASE + k))
BMC_PORT=$((BASE + 50 + k))
OSDS="$((k - 1))"
MONS="$mons"
MGRS="$mgrs"
BOOT_DELAY=$BOOT_DELAY
SHUTDOWN_TIMEOUT=$SHUTDOWN_TIMEOUT
EOF
  node_uts "$d"
  for f in actions.log gets.log power.log systemctl.log daemons.log; do : > "$d/$f"; done
  chown "$LAB_USER:" "$d/systemctl.log" "$d/daemons.log"
done
ts "$NODES nodes: UTS namespaces labnode1..labnode$NODES"

# ---- Ceph: mons and the first mgr -----------------------------------------------------------------
FSID=$(cat /proc/sys/kernel/random/uuid)
if [ "$STORE" = memstore ]; then STORE_CONF="memstore_device_bytes = 4294967296"
else STORE_CONF="bluestore_block_size = 10737418240
bluestore_block_create = true"; fi
cat > "$CONF" <<EOF
[global]
fsid = $FSID
mon_host = $mon_host
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_ipv6 = false
ms_bind_port_min = $((MON_PORT + 10))
ms_bind_port_max = $((MON_PORT + 199))
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
run_dir = $DIR/ceph/run
crash_dir = $DIR/ceph/crash
mon_cluster_log_file = $DIR/ceph/log/\$cluster.log
log_to_syslog = false
err_to_syslog = false
osd_pool_default_size = 2
osd_pool_default_min_size = 1
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 1
mon_allow_pool_delete = true
# The mon warns below 30 % and stops below 5 % free space on the disk holding mon_data: on a
# shared CI disk that is about the host, not the cluster.
mon_data_avail_warn = 2
mon_data_avail_crit = 1
# Test speed: PG stats every 1 s (default 5), mon proposals batched for 0.1 s (default 1), mon
# elections decided after 1 s (default 5: a fresh 3-mon cluster needs two rounds, and a mon that
# rejoins while another is down waits a whole round; replies on loopback take milliseconds).
mgr_stats_period = 1
paxos_propose_interval = 0.1
mon_election_timeout = 1

[mon]
mon_data = $DIR/ceph/mon/\$cluster-\$id
pid_file = $DIR/ceph/run/\$name.pid
admin_socket = $DIR/ceph/run/\$name.asok
log_file = $DIR/ceph/log/\$name.log

[mgr]
mgr_data = $DIR/ceph/mgr/\$cluster-\$id
pid_file = $DIR/ceph/run/\$name.pid
admin_socket = $DIR/ceph/run/\$name.asok
log_file = $DIR/ceph/log/\$name.log

[osd]
osd_data = $DIR/ceph/osd/\$cluster-\$id
pid_file = $DIR/ceph/run/\$name.pid
admin_socket = $DIR/ceph/run/\$name.asok
log_file = $DIR/ceph/log/\$name.log
osd_objectstore = $STORE
$STORE_CONF
osd_memory_target = 939524096
# Test speed: no per-op recovery sleep for "hdd" OSDs, more parallel backfills.
osd_recovery_sleep_hdd = 0
osd_max_backfills = 4

[client]
keyring = $ADMIN_KR
# Many CLI calls run at once: no per-client admin socket or log file under the lab dir.
admin_socket =
log_file =
EOF
C=(ceph -c "$CONF" --connect-timeout 15)

ceph-authtool --create-keyring "$DIR/ceph/tmp/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$ADMIN_KR" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$DIR/ceph/tmp/mon.keyring" --import-keyring "$ADMIN_KR" >/dev/null
monmap_args=()
for k in $(seq 1 "$MONS"); do monmap_args+=(--addv "labnode$k" "[v2:127.0.0.1:$((MON_PORT + k - 1))]"); done
monmaptool --create --fsid "$FSID" "${monmap_args[@]}" "$DIR/ceph/tmp/monmap" >/dev/null
# Every daemon runs as the lab user, so that its sessions can stop and start daemons and read the
# admin keyring (the `ceph` CLI on the admin node).
chown -R "$LAB_USER:" "$DIR/ceph"
chmod 0644 "$CONF"
for k in $(seq 1 "$MONS"); do
  as_lab ceph-mon -c "$CONF" --mkfs -i "labnode$k" --monmap "$DIR/ceph/tmp/monmap" --keyring "$DIR/ceph/tmp/mon.keyring"
  echo "$DIR/nodes/node$k" > "$DIR/ceph/mon/ceph-labnode$k/lab-node"
done
for k in $(seq 1 "$MONS"); do "$DIR/bin/daemon-ctl.sh" "$DIR" start mon "labnode$k" >/dev/null; done
for _ in $(seq 1 100); do ceph -c "$CONF" --connect-timeout 2 mon stat >/dev/null 2>&1 && break; sleep 0.2; done
"${C[@]}" mon stat >/dev/null
ts "mons labnode1..labnode$MONS up on 127.0.0.1:$MON_PORT..$((MON_PORT + MONS - 1)) (fsid $FSID)"
for k in $(seq 1 "$MGRS"); do
  mkdir -p "$DIR/ceph/mgr/ceph-labnode$k"
  "${C[@]}" auth get-or-create "mgr.labnode$k" mon 'allow profile mgr' osd 'allow *' mds 'allow *' -o "$DIR/ceph/mgr/ceph-labnode$k/keyring"
  echo "$DIR/nodes/node$k" > "$DIR/ceph/mgr/ceph-labnode$k/lab-node"
done
chown -R "$LAB_USER:" "$DIR/ceph/mgr"
# mgr.labnode1 now, so that it is the active mgr (the other starts when its node boots, as standby).
"$DIR/bin/daemon-ctl.sh" "$DIR" start mgr labnode1 >/dev/null
ts "mgr.labnode1 started"

# ---- nodes: sshd config, BMC config, OSD ----------------------------------------------------------
# sshd's privilege separation directory (also needed by `sshd -t`)
[ -d /run/sshd ] || { mkdir -p /run/sshd && chmod 0755 /run/sshd; }
nodes_json=''
mkfs_pids=()
for k in $(seq 1 "$NODES"); do
  d=$DIR/nodes/node$k
  host=labnode$k
  ssh_port=$((BASE + k))
  bmc_port=$((BASE + 50 + k))

  # OSD k-1, in the CRUSH host named like the node
  uuid=$(cat /proc/sys/kernel/random/uuid)
  secret=$(ceph-authtool --gen-print-key)
  id=$(printf '{"cephx_secret": "%s"}' "$secret" | "${C[@]}" osd new "$uuid" $((k - 1)) -i -)
  [ "$id" = $((k - 1)) ] || { echo "ceph osd new gave osd.$id, not osd.$((k - 1))" >&2; false; }
  od=$DIR/ceph/osd/ceph-$id
  mkdir -p "$od"
  ceph-authtool --create-keyring "$od/keyring" --name "osd.$id" --add-key "$secret" >/dev/null
  echo "$d" > "$od/lab-node"
  printf '[osd.%s]\ncrush_location = root=default host=%s\n' "$id" "$host" >> "$CONF"
  chown -R "$LAB_USER:" "$od"
  # mkfs takes seconds (bluestore): all OSDs at once, waited for below
  as_lab ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$uuid" >"$DIR/ceph/log/osd.$id.mkfs.log" 2>&1 &
  mkfs_pids+=("$!:$id")

  admin_env=''
  [ "$k" = 1 ] && admin_env=" CEPH_CONF=$CONF"

  # sshd: nothing from /etc/ssh is read (own config with -f, no Include)
  ssh-keygen -q -t ed25519 -N '' -C "$host-hostkey" -f "$d/ssh/ssh_host_ed25519_key"
  install -m 0644 "$DIR/client/id_ed25519.pub" "$d/ssh/authorized_keys"
  : > "$d/ssh/sshd.log"
  cat > "$d/ssh/sshd_config" <<EOF
# private sshd of fake node $k ($host)
ListenAddress 127.0.0.1:$ssh_port
HostKey $d/ssh/ssh_host_ed25519_key
PidFile $d/ssh/sshd.pid
AuthorizedKeysFile $d/ssh/authorized_keys
# keys live under /tmp (mode 1777): StrictModes would refuse them
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $LAB_USER
UsePAM no
PrintMotd no
PrintLastLog no
UseDNS no
X11Forwarding no
AllowTcpForwarding no
MaxStartups 100:30:200
MaxSessions 50
LoginGraceTime 20
SetEnv NODE_NAME=node$k LAB_NODE_DIR=$d PATH=$DIR/node-bin:/usr/local/bin:/usr/bin:/bin$admin_env
LogLevel INFO
EOF
  /usr/sbin/sshd -t -f "$d/ssh/sshd_config"

  # BMC: ipmi_sim, RMCP+ (lanplus); chassis control through the hook
  echo 1 > "$d/power"
  echo 0 > "$d/powergen"
  echo default > "$d/boot"
  cat > "$d/bmc/lan.conf" <<EOF
name "node$k"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 $bmc_port
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid $(printf 'fa4eb3c0000000000000000000%06x' "$k")
  endlan
  chassis_control "$DIR/bin/chassis-hook.sh $d"
  user 2 true "$BMC_USER" "$BMC_PASSWORD" admin 10 none md2 md5 straight
EOF
  cat > "$d/bmc/node.emu" <<EOF
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
EOF
  chmod 0600 "$d/bmc/lan.conf"

  fp=$(ssh-keygen -l -E sha256 -f "$d/ssh/ssh_host_ed25519_key.pub" | awk '{print $2}')
  [ -n "$nodes_json" ] && nodes_json+=','
  mon=null; [ "$k" -le "$MONS" ] && mon="\"$host\""
  mgr=null; [ "$k" -le "$MGRS" ] && mgr="\"$host\""
  nodes_json+=$(printf '\n    {"name": "node%s", "hostname": "%s", "dir": "%s", "osds": [%s], "mon": %s, "mgr": %s,\n     "ssh": {"host": "127.0.0.1", "port": %s, "user": "%s", "fingerprint": "%s"},\n     "bmc": {"host": "127.0.0.1", "port": %s, "username": "%s", "password": "%s"}}' \
    "$k" "$host" "$d" "$id" "$mon" "$mgr" "$ssh_port" "$LAB_USER" "$fp" "$bmc_port" "$BMC_USER" "$BMC_PASSWORD")
done
for pi in "${mkfs_pids[@]}"; do
  wait "${pi%%:*}" || { cat "$DIR/ceph/log/osd.${pi#*:}.mkfs.log" >&2; false; }
done
chmod 0644 "$CONF"
chmod 0640 "$ADMIN_KR"
chown "$LAB_USER:" "$CONF" "$ADMIN_KR"
ts "$NODES nodes configured ($STORE OSDs created)"

# ---- power on: BMCs, then every node boots (sshd, then its mon, mgr and OSD) ----------------------
pids=()
for k in $(seq 1 "$NODES"); do
  "$DIR/bin/bmc.sh" "$DIR/nodes/node$k" start >/dev/null
  "$DIR/bin/node-power.sh" "$DIR/nodes/node$k" boot >>"$DIR/nodes/node$k/power.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || { tail -5 "$DIR"/nodes/node*/power.log >&2; false; }; done
for k in $(seq 1 "$NODES"); do
  "$DIR/bin/bmc.sh" "$DIR/nodes/node$k" wait
  : > "$DIR/nodes/node$k/gets.log"
done
ts "BMCs answer on udp/$((BASE + 51))..$((BASE + 50 + NODES)); sshd on tcp/$((BASE + 1))..$((BASE + NODES))"

# ---- data -----------------------------------------------------------------------------------------
"$DIR/bin/ceph-wait.py" "$CONF" "$NODES" "$WAIT" | sed 's/^/    /'
"${C[@]}" osd pool create "$POOL" "$PG_NUM" "$PG_NUM" replicated >/dev/null 2>&1
"${C[@]}" osd pool application enable "$POOL" rados >/dev/null 2>&1
obj_mb=4
head -c $((obj_mb * 1024 * 1024)) /dev/urandom > "$DIR/ceph/tmp/object"
for i in $(seq 1 $(((DATA_MB + obj_mb - 1) / obj_mb))); do
  rados -c "$CONF" -p "$POOL" put "object-$i" "$DIR/ceph/tmp/object"
done
rm -f "$DIR/ceph/tmp/object"
ts "pool $POOL: $PG_NUM PGs, size 2, ${DATA_MB} MB written"
"$DIR/bin/ceph-wait.py" "$CONF" "$NODES" "$WAIT" | sed 's/^/    /'

cat > "$DIR/lab.json" <<EOF
{
  "dir": "$DIR",
  "user": "$LAB_USER",
  "clientKey": "$DIR/client/id_ed25519",
  "ceph": {"conf": "$CONF", "fsid": "$FSID", "monPort": $MON_PORT, "mons": $MONS, "mgrs": $MGRS, "store": "$STORE", "pool": "$POOL", "adminNode": "node1"},
  "nodes": [$nodes_json
  ]
}
EOF
trap - ERR
ts "lab up: $DIR/lab.json (source $DIR/env for the ceph CLI)"
