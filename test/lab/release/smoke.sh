#!/bin/bash
# smoke.sh DIR [K] [--upgrade] : a by-hand, package-based Ceph on node K (default 1) of a running
# release lab, the way the package deployer does it (Debian layout, units through systemctl as
# user ceph): one mon (mkfs with a monmap on 127.0.0.1:cephPortBase), one mgr, one bluestore OSD on
# /dev/sdb with `ceph-volume raw prepare` + `raw activate --no-systemd`; checks the OSD is up.
# --upgrade: then an offline in-place apt upgrade to Tentacle from /srv/nflab/apt/tentacle, the
# daemons restarted, `ceph versions` all 20.2.4. Prints each step's time. Leaves the cluster up
# (down.sh DIR --wipe removes everything). Used to check the lab; not part of npm test.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=${1:?usage: smoke.sh DIR [K] [--upgrade]}
K=${2:-1}
UPGRADE=${3:-}
read -r PORT LO HI < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["cephPortBase"], *j["cephPortRange"])' "$DIR/lab.json")
T0=${EPOCHREALTIME/./}
ts() { local d=$((${EPOCHREALTIME/./} - T0)); printf '[%3d.%02ds] %s\n' $((d / 1000000)) $(((d / 10000) % 100)) "$*"; }
on() { "$HERE/ctl.sh" "$DIR" exec "$K" "set -euo pipefail; $1"; }

on "
FSID=\$(cat /proc/sys/kernel/random/uuid); H=\$(hostname)
cat > /etc/ceph/ceph.conf <<C
[global]
fsid = \$FSID
mon_host = [v2:127.0.0.1:$PORT]
public_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_ipv6 = false
ms_bind_port_min = $LO
ms_bind_port_max = $HI
osd_pool_default_size = 1
mon_data_avail_warn = 2
mon_data_avail_crit = 1
[mon]
mgr_initial_modules = iostat nfs
C
t=\$(mktemp -d)
ceph-authtool --create-keyring \$t/mon.keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring /etc/ceph/ceph.client.admin.keyring --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool --create-keyring /var/lib/ceph/bootstrap-osd/ceph.keyring --gen-key -n client.bootstrap-osd --cap mon 'profile bootstrap-osd' --cap mgr 'allow r' >/dev/null
ceph-authtool \$t/mon.keyring --import-keyring /etc/ceph/ceph.client.admin.keyring >/dev/null
ceph-authtool \$t/mon.keyring --import-keyring /var/lib/ceph/bootstrap-osd/ceph.keyring >/dev/null
monmaptool --create --addv \$H '[v2:127.0.0.1:$PORT]' --fsid \$FSID \$t/monmap >/dev/null
chown -R ceph:ceph \$t /var/lib/ceph/bootstrap-osd/ceph.keyring
install -d -o ceph -g ceph /var/lib/ceph/mon/ceph-\$H
setpriv --reuid ceph --regid ceph --init-groups ceph-mon --mkfs -i \$H --monmap \$t/monmap --keyring \$t/mon.keyring
rm -rf \$t
systemctl enable --now ceph-mon@\$H 2>/dev/null
ceph --connect-timeout 20 mon stat
install -d -o ceph -g ceph /var/lib/ceph/mgr/ceph-\$H
ceph auth get-or-create mgr.\$H mon 'allow profile mgr' osd 'allow *' mds 'allow *' -o /var/lib/ceph/mgr/ceph-\$H/keyring
chown ceph:ceph /var/lib/ceph/mgr/ceph-\$H/keyring
systemctl enable --now ceph-mgr@\$H 2>/dev/null
"
ts "mon and mgr of labnode$K up"
on "ceph-volume raw prepare --bluestore --data /dev/sdb >/dev/null 2>&1 && ceph-volume raw activate --device /dev/sdb --no-systemd >/dev/null 2>&1
systemctl enable --now ceph-osd@0 2>/dev/null
for i in \$(seq 1 60); do [ \"\$(ceph osd dump -f json | python3 -c 'import json,sys; print(sum(o[\"up\"] for o in json.load(sys.stdin)[\"osds\"]))')\" = 1 ] && break; sleep 0.5; done
ceph osd stat; ps -o user=,args= -p \$(cat /run/nflab/units/ceph-osd@0.service/main.pid)"
ts "osd.0 on /dev/sdb (ceph-volume raw) up"
[ "$UPGRADE" = --upgrade ] || exit 0
on "echo 'deb [trusted=yes] file:/srv/nflab/apt/tentacle ./' > /etc/apt/sources.list.d/nodefoundry-ceph.list
apt-get -qq -o Dir::Etc::sourcelist=sources.list.d/nodefoundry-ceph.list -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 update
apt-get install -y -qq ceph-mon ceph-mgr ceph-osd ceph-common ceph-base ceph-volume >/dev/null 2>&1
ceph-osd --version"
ts "apt upgrade to Tentacle (offline, from /srv/nflab/apt/tentacle)"
on "systemctl restart ceph-mon@\$(hostname) ceph-mgr@\$(hostname) ceph-osd@0
for i in \$(seq 1 60); do ceph versions -f json 2>/dev/null | python3 -c 'import json,sys; o=json.load(sys.stdin)[\"overall\"]; sys.exit(0 if len(o) == 1 and \" 20.2.4 \" in list(o)[0] else 1)' && break; sleep 0.5; done
ceph versions -f json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"overall\"])'"
ts "daemons restarted on Tentacle"
