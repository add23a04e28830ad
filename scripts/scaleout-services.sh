#!/usr/bin/env bash
# Starts a throwaway PostgreSQL (loopback port 5439) and redis-server (port 6399) for the
# scale-out tests, installing them from Debian packages when missing. Source it:
#   source scripts/scaleout-services.sh
# It exports RUNESTONE_TEST_POSTGRES_DSN and RUNESTONE_TEST_REDIS_URL.
set -euo pipefail
PGPORT=${PGPORT:-5439}
REDISPORT=${REDISPORT:-6399}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
if ! command -v redis-server >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql redis-server >/dev/null
fi
# As root, the cluster runs as the postgres user; otherwise as whoever runs this.
pgrun() { if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sh -c "$1"; fi; }
if ! redis-cli -p "$REDISPORT" ping >/dev/null 2>&1; then
  redis-server --port "$REDISPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >/dev/null
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
if ! "$PGBIN/pg_isready" -h 127.0.0.1 -p "$PGPORT" -q; then
  PGDATA=$(mktemp -d /tmp/runestone-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres "$PGDATA"
  pgrun "$PGBIN/initdb -D $PGDATA -A trust -U postgres" >/dev/null
  pgrun "$PGBIN/pg_ctl -D $PGDATA -o '-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300' -l $PGDATA/log -w start" >/dev/null
fi
for _ in $(seq 50); do "$PGBIN/pg_isready" -h 127.0.0.1 -p "$PGPORT" -q && break; sleep 0.2; done
"$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='runestone_test'" | grep -q 1 ||
  "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE DATABASE runestone_test"
export RUNESTONE_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$PGPORT/runestone_test?sslmode=disable"
export RUNESTONE_TEST_REDIS_URL="redis://127.0.0.1:$REDISPORT/0"
