#!/usr/bin/env bash
# What the tests need besides Python packages, installed where it is missing:
#   - PostgreSQL with PostGIS, its cluster started and a database yizhan_test (PostGIS enabled)
#     owned by a role named after the current OS user, so that
#     postgresql:///yizhan_test?host=/var/run/postgresql (the default YIZHAN_TEST_POSTGIS_URL of
#     tests/conftest.py) connects by peer authentication; skipped when YIZHAN_TEST_POSTGIS_URL
#     names another database;
#   - Chromium (Debian's, /usr/bin/chromium; Playwright drives it and never downloads one);
#   - a CJK font, so that the browser tests' screenshots show Chinese.
# With apt-get (as root, or with sudo) it installs what is missing; without, it prints one line
# per missing piece and how to run the other tests, and exits 1. Run it as often as you like.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

DB=yizhan_test
ME=$(id -un)
CHROMIUM=${YIZHAN_TEST_CHROMIUM:-/usr/bin/chromium}
missing=()

can_apt() {
    command -v apt-get >/dev/null || return 1
    [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null
}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -n -u postgres "$@"; fi
}
quietly() {  # run a command; show its output only when it fails
    local log status=0
    log=$(mktemp)
    "$@" >"$log" 2>&1 || status=$?
    [ "$status" -eq 0 ] || cat "$log" >&2
    rm -f "$log"
    return "$status"
}
updated=
apt_install() {
    [ -n "$updated" ] || { quietly as_root apt-get update -qq; updated=1; }
    echo "system.sh: installing $*"
    quietly as_root apt-get install -y -qq "$@"
}
server_version() {  # the newest installed PostgreSQL server, e.g. 15
    find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null \
        | awk -F/ '{print $5}' | sort -n | tail -1
}

postgis() {
    if [ -n "${YIZHAN_TEST_POSTGIS_URL:-}" ]; then
        return  # a database of its own: the tests say clearly if it cannot be reached
    fi
    if command -v psql >/dev/null && psql -qAtc 'SELECT postgis_lib_version()' \
        "postgresql:///$DB?host=/var/run/postgresql" >/dev/null 2>&1; then
        return  # already there
    fi
    if ! can_apt; then
        missing+=("PostgreSQL with PostGIS: install postgresql and postgis, create database $DB \
with the postgis extension (or set YIZHAN_TEST_POSTGIS_URL to such a database)")
        return
    fi
    if ! command -v psql >/dev/null || [ -z "$(server_version)" ]; then
        apt_install postgresql
    fi
    local ver
    ver=$(server_version)
    if [ ! -f "/usr/share/postgresql/$ver/extension/postgis.control" ]; then
        apt_install "postgresql-$ver-postgis-3"
    fi
    if ! pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main"' | grep -q .; then
        as_root pg_createcluster "$ver" main >/dev/null
    fi
    if ! pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" && $4 == "online"' \
        | grep -q .; then
        as_root pg_ctlcluster "$ver" main start
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
    echo "system.sh: PostgreSQL $ver + PostGIS $(q -d "$DB" -c 'SELECT postgis_lib_version()')" \
        "ready: postgresql:///$DB?host=/var/run/postgresql (role $ME)"
}

chromium() {
    [ -x "$CHROMIUM" ] && return
    if can_apt; then
        apt_install chromium chromium-driver
    else
        missing+=("Chromium at $CHROMIUM: install Debian's chromium (or set YIZHAN_TEST_CHROMIUM \
to a Chromium binary)")
    fi
}

cjk_font() {
    if command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh family)" ]; then
        return
    fi
    if can_apt; then
        apt_install fonts-wqy-microhei fontconfig
    else
        missing+=("a CJK font for the screenshots: install fonts-wqy-microhei or fonts-noto-cjk")
    fi
}

postgis
chromium
cjk_font
if [ ${#missing[@]} -gt 0 ]; then
    for piece in "${missing[@]}"; do
        echo "system.sh: missing $piece" >&2
    done
    echo "system.sh: the other tests run without them:" \
        "pip install -c tests/constraints.txt '.[test]' && pytest -m 'not postgis and not browser'" >&2
    exit 1
fi
