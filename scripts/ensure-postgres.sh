#!/usr/bin/env bash
# Makes a local Debian PostgreSQL server usable for NodeFoundry and prints its DATABASE_URL.
#
#   scripts/ensure-postgres.sh            use the installed server; fail with advice when there is none
#   scripts/ensure-postgres.sh --install  apt-get install postgresql first when it is missing (CI)
#
# Works as root without systemd (containers, CI): clusters are driven by Debian's pg_ctlcluster.
# Ensures: a running cluster (creates one when there is none), a login role that may create
# databases (tests create and drop one database per run), and its database.
#
# Environment (all optional): NF_PG_USER, NF_PG_PASSWORD, NF_PG_DATABASE (default nodefoundry each).
# stdout: the DATABASE_URL and nothing else. Progress and errors: stderr.
set -euo pipefail

readonly PG_USER="${NF_PG_USER:-nodefoundry}"
readonly PG_PASSWORD="${NF_PG_PASSWORD:-nodefoundry}"
readonly PG_DATABASE="${NF_PG_DATABASE:-nodefoundry}"

log() { printf 'ensure-postgres: %s\n' "$*" >&2; }
die() { printf 'ensure-postgres: error: %s\n' "$*" >&2; exit 1; }

install=false
for arg in "$@"; do
  case "$arg" in
    --install) install=true ;;
    -h|--help) sed -n '2,/^set /{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 0 ;;
    *) printf 'ensure-postgres: unknown argument %s (usage: %s [--install])\n' "$arg" "$0" >&2; exit 2 ;;
  esac
done

for v in PG_USER PG_DATABASE; do
  [[ "${!v}" =~ ^[a-z_][a-z0-9_]*$ ]] || die "$v=${!v}: use lowercase letters, digits and _ only"
done
[[ "$PG_PASSWORD" != *"'"* ]] || die "NF_PG_PASSWORD must not contain a single quote"

as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n "$@"
  else return 126
  fi
}

# A server is installed when Debian's cluster tools and at least one server binary are present
# (postgresql-client alone brings pg_lsclusters but no server).
server_installed() {
  command -v pg_lsclusters >/dev/null 2>&1 && command -v pg_ctlcluster >/dev/null 2>&1 &&
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

if ! server_installed; then
  if ! $install; then
    die "no PostgreSQL server is installed.
  Either install one:   sudo apt-get install postgresql   (then run this again, or: bash scripts/ensure-postgres.sh --install)
  or point NodeFoundry at an existing server:   export DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DB
  (the role must be allowed to create databases: npm test creates and drops one per run)."
  fi
  command -v apt-get >/dev/null 2>&1 || die "no PostgreSQL server and no apt-get to install one; set DATABASE_URL instead"
  log "installing PostgreSQL from the Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 ||
    die "apt-get update failed (installing PostgreSQL needs root or password-less sudo)"
  as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends postgresql >&2 ||
    die "apt-get install postgresql failed"
  server_installed || die "postgresql was installed but no server binary was found under /usr/lib/postgresql"
fi

# The socket directory lives on tmpfs on many systems; without systemd nobody recreates it after a reboot.
if [[ ! -d /var/run/postgresql ]]; then
  as_root install -d -o postgres -g postgres -m 2775 /var/run/postgresql || die "cannot create /var/run/postgresql"
fi

# Columns of `pg_lsclusters --no-header`: version cluster port status owner datadir logfile.
pick_cluster() {
  # Prefer a running cluster, then one on 5432, then the newest.
  pg_lsclusters --no-header 2>/dev/null | awk '
    { score = ($4 ~ /^online/ ? 100 : 0) + ($3 == 5432 ? 10 : 0); print score, $1, $2, $3, $4 }' |
    sort -k1,1nr -k2,2Vr | head -n1 | cut -d' ' -f2-
}

read -r pg_version pg_cluster pg_port pg_status <<<"$(pick_cluster)" || true
if [[ -z "${pg_version:-}" ]]; then
  # shellcheck disable=SC2012
  newest="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
  log "no PostgreSQL cluster exists; creating $newest/main"
  as_root pg_createcluster "$newest" main >&2 || die "pg_createcluster $newest main failed (needs root)"
  read -r pg_version pg_cluster pg_port pg_status <<<"$(pick_cluster)"
fi

if [[ "$pg_status" != online* ]]; then
  log "starting PostgreSQL cluster $pg_version/$pg_cluster (port $pg_port)"
  # pg_ctlcluster uses systemctl when systemd runs and pg_ctl otherwise; both are fine.
  as_root pg_ctlcluster "$pg_version" "$pg_cluster" start >&2 ||
    die "pg_ctlcluster $pg_version $pg_cluster start failed; see /var/log/postgresql/postgresql-$pg_version-$pg_cluster.log"
fi

# Wait for the server to accept connections (a fresh start replays WAL first).
for _ in $(seq 1 60); do
  if pg_isready -q -h /var/run/postgresql -p "$pg_port" 2>/dev/null; then break; fi
  sleep 0.5
done
pg_isready -q -h /var/run/postgresql -p "$pg_port" || die "PostgreSQL $pg_version/$pg_cluster does not accept connections on port $pg_port"

url="postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${pg_port}/${PG_DATABASE}"

# As the postgres superuser over the local socket (peer authentication).
psql_admin() {
  if [[ $EUID -eq 0 ]]; then
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -p "$pg_port" -d postgres "$@"
  elif [[ "$(id -un)" == postgres ]]; then
    psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -p "$pg_port" -d postgres "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n -u postgres true 2>/dev/null; then
    sudo -n -u postgres psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -p "$pg_port" -d postgres "$@"
  else
    return 126
  fi
}

can_login() {
  PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=5 psql -X -q -h 127.0.0.1 -p "$pg_port" -U "$PG_USER" -d "$PG_DATABASE" \
    -tAc 'select 1' >/dev/null 2>&1
}

if psql_admin -tAc 'select 1' >/dev/null 2>&1; then
  role_exists="$(psql_admin -tAc "select 1 from pg_roles where rolname = '${PG_USER}'")"
  if [[ "$role_exists" != 1 ]]; then
    log "creating role $PG_USER (LOGIN CREATEDB)"
    psql_admin -c "create role \"${PG_USER}\" login createdb password '${PG_PASSWORD}'" >&2
  else
    # Keep an existing role's password (it may be someone's); make sure it can log in and create databases.
    psql_admin -c "alter role \"${PG_USER}\" login createdb" >&2
  fi
  db_exists="$(psql_admin -tAc "select 1 from pg_database where datname = '${PG_DATABASE}'")"
  if [[ "$db_exists" != 1 ]]; then
    log "creating database $PG_DATABASE owned by $PG_USER"
    psql_admin -c "create database \"${PG_DATABASE}\" owner \"${PG_USER}\"" >&2
  fi
elif ! can_login; then
  die "cannot administer PostgreSQL $pg_version/$pg_cluster (run as root or as a user with password-less sudo),
  and ${url/:${PG_PASSWORD}@/:***@} does not work yet. Set DATABASE_URL to a database you can use instead."
fi

can_login || die "role $PG_USER cannot log in to $PG_DATABASE over TCP on 127.0.0.1:$pg_port with the expected password.
  If the role already existed with another password, either run
    sudo -u postgres psql -c \"alter role $PG_USER password '…'\" and set NF_PG_PASSWORD,
  or set DATABASE_URL yourself. Check pg_hba.conf allows 'host all all 127.0.0.1/32 scram-sha-256'."

log "PostgreSQL $pg_version/$pg_cluster ready on 127.0.0.1:$pg_port, database $PG_DATABASE"
printf '%s\n' "$url"
