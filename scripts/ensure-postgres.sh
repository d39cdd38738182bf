#!/usr/bin/env bash
# Makes sure the PostgreSQL server binaries (initdb, pg_ctl) are there for the store's tests,
# which start a throw-away server of their own (tsukeku/store/pgserver.py). Installs Debian's
# postgresql with apt-get when they are missing. Outside CI it never fails the build (the
# PostgreSQL tests then skip with the reason); in CI (CI=true) it fails when they are still
# missing, because there the tests must run.
set -u
have_server() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
missing() {
  if [ -n "${CI:-}" ]; then
    echo "ensure-postgres: $1; CI must run the PostgreSQL tests" >&2
    exit 1
  fi
  echo "ensure-postgres: $1; the PostgreSQL tests will be skipped" >&2
  exit 0
}
have_server && exit 0
command -v apt-get >/dev/null 2>&1 || missing "no PostgreSQL server and no apt-get"
sudo=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo -n"
echo "ensure-postgres: installing postgresql with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null 2>&1 || true
$sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null 2>&1 \
  || $sudo apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null 2>&1 \
  || missing "apt-get install postgresql failed"
have_server || missing "postgresql installed but initdb not found"
exit 0
