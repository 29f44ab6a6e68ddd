#!/bin/bash
# Builds, or finds in the cache, what the release lab's nodes are made of (docs/lab.md#release-lab):
#
#   1. the Reef root: Debian trixie minbase + Ceph 18.2.7 (ceph-mon, -mgr, -osd, -common, -base,
#      -volume) + openssh-server, smartmontools and the tools a node needs, with Reef's mgr patch
#      (patch-reef-mgr.sh); cached as a tarball and extracted once next to it (the nodes' read-only
#      lower layer);
#   2. the Tentacle repository: a flat apt repository (debs + Packages + Release) holding Ceph
#      20.2.4 from sid and every package a node made from (1) needs to upgrade to it in place,
#      computed by apt itself in a throwaway copy of (1); checked by a real offline upgrade in a
#      scratch copy of (1) with no network at all (a new network namespace).
#
#   bases.sh            build what is missing (network: deb.debian.org), print the paths
#   bases.sh --check    exit 0 if everything is cached (nothing built, no network)
#   bases.sh --env      print NF_LAB_REEF_ROOT=… and NF_LAB_TENTACLE_REPO=… (exit 1 if missing)
#   bases.sh --verify   the offline in-place upgrade check again (in a scratch copy), timed
#
# Cache: ${NF_LAB_CACHE:-$HOME/.cache/nodefoundry/ceph-lab}. Names carry the pinned Ceph versions
# and a key over everything else that shapes them (package lists, this recipe's revision, the mgr
# patch), so a change of any of them builds a new entry beside the old one; the build fails loudly
# when the mirror no longer has the pinned version (sid moves daily, trixie gets point releases).
# Host needs: mmdebstrap, apt-ftparchive (apt-utils), zstd, unshare (util-linux); runs as root.
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${NF_LAB_CACHE:-$HOME/.cache/nodefoundry/ceph-lab}
MIRROR=${NF_LAB_MIRROR:-http://deb.debian.org/debian}
REEF_VERSION=18.2.7+ds-1+deb13u1
TENTACLE_VERSION=20.2.4+ds-2
# Ceph as the nodes have it (pinned) and as DEP's apt-get install names it
CEPH_PKGS=(ceph-mon ceph-mgr ceph-osd ceph-common ceph-base ceph-volume)
# what else a bare node needs: its sshd, SMART, ps/kill, ip/ss, lsblk/losetup/blkid, mkfs, lvm
NODE_PKGS=(openssh-server smartmontools procps iproute2 util-linux e2fsprogs lvm2 hostname kmod less)
RECIPE_REV=1
MODE=${1:-build}

T0=${EPOCHREALTIME/./}
ts() { local d=$((${EPOCHREALTIME/./} - T0)); printf '[%4d.%02ds] %s\n' $((d / 1000000)) $(((d / 10000) % 100)) "$*"; }
key() { printf '%s\n' "$@" | sha256sum | cut -c1-10; }

REEF_KEY=$(key "$RECIPE_REV" "$REEF_VERSION" "${CEPH_PKGS[*]}" "${NODE_PKGS[*]}" "$(cat "$HERE/patch-reef-mgr.sh")")
REEF_TAR=$CACHE/reef-trixie-$REEF_VERSION-$REEF_KEY.tar.zst
REEF_ROOT=$CACHE/reef-trixie-$REEF_VERSION-$REEF_KEY.root
REPO_KEY=$(key "$RECIPE_REV" "$REEF_KEY" "$TENTACLE_VERSION" "${CEPH_PKGS[*]}")
REPO=$CACHE/tentacle-sid-$TENTACLE_VERSION-$REPO_KEY.repo
APT_SOURCE='deb [trusted=yes] file:/srv/nflab/apt/tentacle ./'

complete() { [ -e "$1.ok" ]; }

case "$MODE" in
  --check) complete "$REEF_TAR" && complete "$REEF_ROOT" && complete "$REPO"; exit ;;
  --env)
    complete "$REEF_ROOT" && complete "$REPO" || { echo "release lab bases missing in $CACHE: run $0" >&2; exit 1; }
    printf 'NF_LAB_REEF_ROOT=%s\nNF_LAB_TENTACLE_REPO=%s\nNF_LAB_REEF_VERSION=%s\nNF_LAB_TENTACLE_VERSION=%s\n' \
      "$REEF_ROOT" "$REPO" "$REEF_VERSION" "$TENTACLE_VERSION"
    exit 0 ;;
  build | --verify) ;;
  *) echo "usage: bases.sh [--check|--env|--verify]" >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || { echo "bases.sh must run as root (mmdebstrap, mount namespaces)" >&2; exit 3; }
for b in mmdebstrap apt-ftparchive zstd unshare; do
  command -v "$b" >/dev/null || { echo "missing $b: apt-get install -y --no-install-recommends mmdebstrap apt-utils zstd util-linux" >&2; exit 3; }
done
mkdir -p "$CACHE"
# one builder at a time (two labs may start at once); the others wait, then find the cache filled
exec 9>"$CACHE/.lock"
flock -w 1800 9 || { echo "timed out waiting for another bases.sh ($CACHE/.lock)" >&2; exit 1; }

# in_root ROOT UPPER CMD...: runs CMD (a bash script string) chrooted in an overlay over ROOT
# (writes go to UPPER), in a private mount namespace: nothing stays mounted when it ends.
# NFLAB_NET=none: also in a new network namespace (no network at all, only loopback down).
in_root() {
  local root=$1 upper=$2 script=$3 net=()
  shift 3
  [ "${NFLAB_NET:-}" = none ] && net=(--net)
  mkdir -p "$upper/upper" "$upper/work" "$upper/merged"
  unshare --mount --propagation private "${net[@]}" -- /bin/bash -c '
    set -e; root=$1; u=$2; script=$3; shift 3
    m=$u/merged
    mount -t overlay overlay -o "lowerdir=$root,upperdir=$u/upper,workdir=$u/work" "$m"
    mount -t proc proc "$m/proc"
    mount --rbind /dev "$m/dev"
    mount -t tmpfs tmpfs "$m/tmp"
    while [ $# -gt 1 ]; do mkdir -p "$m$2"; mount --bind "$1" "$m$2"; shift 2; done
    cp /etc/resolv.conf "$m/etc/resolv.conf" 2>/dev/null || true
    exec chroot "$m" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
      DEBIAN_FRONTEND=noninteractive /bin/bash -ec "$script"
  ' bash "$root" "$upper" "$script" "$@"
}

build_reef() {
  local tmp=$CACHE/tmp.reef.$$ pins=() p v
  for p in "${CEPH_PKGS[@]}"; do pins+=("$p=$REEF_VERSION"); done
  rm -rf "$tmp"
  ts "Reef root: mmdebstrap trixie (${CEPH_PKGS[*]} $REEF_VERSION, ${NODE_PKGS[*]})"
  mmdebstrap --quiet --variant=minbase --dpkgopt=force-unsafe-io \
    --aptopt='APT::Install-Recommends "false"' \
    --include="$(IFS=,; echo "${pins[*]},${NODE_PKGS[*]}")" trixie "$tmp" "$MIRROR"
  v=$(chroot "$tmp" dpkg-query -W -f='${Version}' ceph-osd)
  [ "$v" = "$REEF_VERSION" ] || { echo "trixie gave ceph-osd $v, not $REEF_VERSION" >&2; exit 1; }
  "$HERE/patch-reef-mgr.sh" "$tmp"
  # no service starts from a package script (the node's systemctl shim starts what is asked)
  printf '#!/bin/sh\nexit 101\n' > "$tmp/usr/sbin/policy-rc.d"
  chmod 0755 "$tmp/usr/sbin/policy-rc.d"
  # each node gets its own host keys (up.sh); no machine identity in the base
  rm -f "$tmp"/etc/ssh/ssh_host_* "$tmp/etc/machine-id" "$tmp/var/lib/dbus/machine-id"
  : > "$tmp/etc/machine-id"
  ts "Reef root built: $(du -sm "$tmp" | cut -f1) MB; tar"
  tar -C "$tmp" --zstd -cpf "$REEF_TAR.part" .
  mv "$REEF_TAR.part" "$REEF_TAR"
  touch "$REEF_TAR.ok"
  rm -rf "$tmp"
  ts "cached $REEF_TAR ($(du -m "$REEF_TAR" | cut -f1) MB)"
}

extract_reef() {
  rm -rf "$REEF_ROOT" "$REEF_ROOT.part"
  mkdir -p "$REEF_ROOT.part"
  tar -C "$REEF_ROOT.part" --zstd -xpf "$REEF_TAR"
  mv "$REEF_ROOT.part" "$REEF_ROOT"
  touch "$REEF_ROOT.ok"
  ts "extracted the Reef root: $REEF_ROOT"
}

build_repo() {
  local tmp=$CACHE/tmp.repo.$$ pins=() p n
  for p in "${CEPH_PKGS[@]}"; do pins+=("$p=$TENTACLE_VERSION"); done
  rm -rf "$tmp" "$REPO.part"
  mkdir -p "$tmp" "$REPO.part/partial"
  ts "Tentacle repository: apt-get install --download-only -t sid ${pins[*]} in a throwaway Reef root"
  # sid's Release on the mirror may be past its Valid-Until (a frozen copy): tolerated for sid
  in_root "$REEF_ROOT" "$tmp" "
    echo 'deb $MIRROR sid main' > /etc/apt/sources.list.d/sid.list
    echo 'Acquire::Check-Valid-Until \"false\";' > /etc/apt/apt.conf.d/99nflab-sid
    apt-get -qq update
    apt-get install -y -qq --download-only --no-install-recommends -t sid ${pins[*]}
  " "$REPO.part" /var/cache/apt/archives
  rm -rf "$tmp" "$REPO.part/partial" "$REPO.part/lock"
  n=$(find "$REPO.part" -name '*.deb' | wc -l)
  [ "$n" -gt 0 ] || { echo "no .deb downloaded" >&2; exit 1; }
  (cd "$REPO.part" && apt-ftparchive packages . > Packages && gzip -9nk Packages &&
    apt-ftparchive -o APT::FTPArchive::Release::Origin=nodefoundry-lab -o APT::FTPArchive::Release::Suite=tentacle \
      release . > Release)
  ts "indexed $n debs ($(du -sm "$REPO.part" | cut -f1) MB)"
  verify_repo "$REPO.part"
  mv "$REPO.part" "$REPO"
  touch "$REPO.ok"
  ts "cached $REPO"
}

# verify_repo DIR: in a scratch overlay over the Reef root, with no network at all and the repo as
# the only apt source (configured exactly as the package deployer does), upgrade Ceph in place.
verify_repo() {
  local tmp=$CACHE/tmp.verify.$$ t1
  rm -rf "$tmp"
  mkdir -p "$tmp"
  t1=${EPOCHREALTIME/./}
  NFLAB_NET=none in_root "$REEF_ROOT" "$tmp" "
    echo '$APT_SOURCE' > /etc/apt/sources.list.d/nodefoundry-ceph.list
    apt-get -q -o Dir::Etc::sourcelist=sources.list.d/nodefoundry-ceph.list -o Dir::Etc::sourceparts=- \
      -o APT::Get::List-Cleanup=0 update
    apt-get install -y -q -o Dpkg::Options::=--force-unsafe-io ${CEPH_PKGS[*]} > /tmp/apt.log 2>&1 || { tail -30 /tmp/apt.log; exit 1; }
    grep -E '^[0-9]+ upgraded' /tmp/apt.log
    for b in ceph-mon ceph-mgr ceph-osd ceph; do \$b --version | grep -q ' 20\\.2\\.4 ' || { echo \"\$b: \$(\$b --version)\"; exit 1; }; done
    ceph-osd --version
  " "$1" /srv/nflab/apt/tentacle
  ts "offline in-place upgrade from the repository works ($(((${EPOCHREALTIME/./} - t1) / 1000)) ms, in a network namespace without any network)"
  rm -rf "$tmp"
}

if [ "$MODE" = --verify ]; then
  complete "$REEF_ROOT" && complete "$REPO" || { echo "nothing to verify: run $0 first" >&2; exit 1; }
  verify_repo "$REPO"
  exit 0
fi

complete "$REEF_TAR" || build_reef
if complete "$REEF_ROOT"; then ts "Reef root cached: $REEF_ROOT"; else extract_reef; fi
if complete "$REPO"; then ts "Tentacle repository cached: $REPO"; else build_repo; fi
rm -rf "$CACHE"/tmp.*
ts "bases ready in $CACHE"
"$0" --env
