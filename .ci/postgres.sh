#!/usr/bin/env bash
# CI: install PostgreSQL + PostGIS when missing, start the cluster, and create the database
# yizhan_test (PostGIS enabled) owned by a role named after the current OS user, so that
#   postgresql:///yizhan_test?host=/var/run/postgresql
# (the default YIZHAN_TEST_POSTGIS_URL of tests/api/conftest.py) connects by peer authentication.
# Idempotent: run it as often as you like. Debian/Ubuntu (apt, pg_ctlcluster); root or sudo.
set -euo pipefail

DB=yizhan_test
ME=$(id -un)
export DEBIAN_FRONTEND=noninteractive

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
server_version() {  # the newest installed server, e.g. 15
    find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null \
        | awk -F/ '{print $5}' | sort -n | tail -1
}

updated=
apt_install() {
    [ -n "$updated" ] || { as_root apt-get update -qq; updated=1; }
    as_root apt-get install -y -qq "$@" >/dev/null
}

if ! command -v psql >/dev/null || [ -z "$(server_version)" ]; then
    echo "postgres.sh: installing PostgreSQL"
    apt_install postgresql
fi
VER=$(server_version)
if [ ! -f "/usr/share/postgresql/$VER/extension/postgis.control" ]; then
    echo "postgres.sh: installing postgresql-$VER-postgis-3"
    apt_install "postgresql-$VER-postgis-3"
fi

if ! pg_lsclusters -h | awk -v v="$VER" '$1 == v && $2 == "main"' | grep -q .; then
    as_root pg_createcluster "$VER" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$VER" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .
then
    as_root pg_ctlcluster "$VER" main start
fi
for _ in $(seq 30); do
    as_postgres psql -qAtc 'SELECT 1' >/dev/null 2>&1 && break
    sleep 1
done

q() { as_postgres psql -v ON_ERROR_STOP=1 -qAt "$@"; }
if [ -z "$(q -c "SELECT 1 FROM pg_roles WHERE rolname = '$ME'")" ]; then
    q -c "CREATE ROLE \"$ME\" LOGIN"
fi
if [ -z "$(q -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
    q -c "CREATE DATABASE $DB OWNER \"$ME\" ENCODING 'UTF8' TEMPLATE template0"
fi
q -d "$DB" -c "SET client_min_messages TO warning" -c "CREATE EXTENSION IF NOT EXISTS postgis"
echo "postgres.sh: PostgreSQL $VER + PostGIS $(q -d "$DB" -c 'SELECT postgis_lib_version()')" \
    "ready: postgresql:///$DB?host=/var/run/postgresql (role $ME)"
