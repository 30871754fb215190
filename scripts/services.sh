#!/usr/bin/env bash
# Local PostgreSQL, Redis and S3-compatible server for tests, demos and `make dev`.
# Data lives under .loraplex/services/ (git-ignored), every server listens on loopback only,
# on ports chosen not to clash with a user's own Postgres (5432) or Redis (6379) and below Linux's
# ephemeral range (32768-60999), so an outgoing connection can never take one of them first.
# A second checkout on the same machine reuses services that another checkout started (tests
# isolate themselves by schema, key prefix and S3 prefix); `down` stops only what this one started.
#   services.sh up      install what is missing, start what is not running, health-check
#   services.sh down    stop all three
#   services.sh status  one line per service
#   services.sh env     print the connection settings as shell exports
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.loraplex/services"
PG_PORT=${LORAPLEX_PG_PORT:-25432}
REDIS_PORT=${LORAPLEX_REDIS_PORT:-26379}
S3_PORT=${LORAPLEX_S3_PORT:-29000}
PG_USER=loraplex PG_PASSWORD=loraplex PG_DB=loraplex
S3_BUCKET=${S3_BUCKET:-loraplex}

die() { echo "services: $*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # name seconds command...
  local name=$1 secs=$2; shift 2
  for _ in $(seq $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

as_owner() { # runs a command as the data directory's owner: Postgres refuses to run as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

apt_install() {
  [ "$(id -u)" = 0 ] || die "$1 is missing; install it with: sudo apt-get install -y $*"
  echo "services: installing $* with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 # RUNLEVEL=1 stops Debian's init scripts from starting the system-wide copies
  apt-get install -y -qq "$@" >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$@" >/dev/null; } \
    || die "apt-get install $* failed; run it by hand to see why"
}

pg_bin() {
  local d; d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

node_bin() { "$root/scripts/ensure-node.sh"; }

# ---------- PostgreSQL ----------
# Postgres runs as the unprivileged `postgres` user when we are root; if that user cannot reach
# the checkout (e.g. it lives under /root), its data goes to a per-checkout folder under /var/tmp.
pg_data_dir() {
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$state" 2>/dev/null; then
    echo "/var/tmp/loraplex-$(echo -n "$root" | sha256sum | cut -c1-12)/postgres"
  else
    echo "$state/postgres"
  fi
}

pg_up() {
  local bin data; mkdir -p "$state"; data=$(pg_data_dir)
  bin=$(pg_bin) || { apt_install postgresql; bin=$(pg_bin) || die "postgresql installed but initdb not found under /usr/lib/postgresql"; }
  pgvector_ensure "$bin" "$data"
  if "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
    [ -f "$data/postmaster.pid" ] && return 0
    pg_is_loraplex "$bin" && { echo "services: reusing the PostgreSQL on :$PG_PORT that another Loraplex checkout started" >&2; return 0; }
    die "port $PG_PORT is used by a PostgreSQL that is not Loraplex's; stop it or run with LORAPLEX_PG_PORT=<free port below 32768>"
  fi
  port_open "$PG_PORT" && die "port $PG_PORT is in use by another program; free it or set LORAPLEX_PG_PORT"
  if [ ! -f "$data/PG_VERSION" ]; then
    rm -rf "$data" "$data.init"; mkdir -p "$data.init"; chmod 755 "$(dirname "$data")"
    [ "$(id -u)" = 0 ] && chown postgres: "$data.init"
    local pw; pw="$(dirname "$data")/.pgpass-init"; echo "$PG_PASSWORD" >"$pw"; [ "$(id -u)" = 0 ] && chown postgres: "$pw"
    as_owner "$bin/initdb" -D "$data.init" -U "$PG_USER" --pwfile="$pw" --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$state/postgres-init.log" 2>&1 \
      || die "initdb failed; see $state/postgres-init.log"
    rm -f "$pw"
    # Test data: durability traded for speed. Sockets only on TCP loopback.
    cat >>"$data.init/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
shared_buffers = 256MB
CONF
    mv "$data.init" "$data"
  fi
  local log; log="$(dirname "$data")/postgres.log"
  touch "$log"; [ "$(id -u)" = 0 ] && chown postgres: "$log"
  rm -f "$data/postmaster.pid" # a stale pid file from a killed server blocks start; the port check above proved none runs
  as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 30 start >/dev/null \
    || die "PostgreSQL did not start; see $log"
  PGPASSWORD=$PG_PASSWORD "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='$PG_DB'" | grep -q 1 \
    || PGPASSWORD=$PG_PASSWORD "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -qc "CREATE DATABASE $PG_DB" \
    || die "could not create database $PG_DB"
}
# pgvector from third_party/ (Debian 12 has no package), built once per machine. Installing the
# server headers can upgrade the PostgreSQL server packages too: a server of ours that was already
# running would then fail to load its libraries, so it is restarted when the server binary changed.
pgvector_ensure() { # bin data
  local bin=$1 data=$2 major before after src build
  major=$(basename "$(dirname "$bin")") # Debian layout: /usr/lib/postgresql/<major>/bin
  [ -f "/usr/share/postgresql/$major/extension/vector.control" ] && [ -f "/usr/lib/postgresql/$major/lib/vector.so" ] && return 0
  before=$("$bin/postgres" --version)
  command -v make >/dev/null && command -v gcc >/dev/null || apt_install make gcc
  [ -d "/usr/include/postgresql/$major/server" ] || apt_install "postgresql-server-dev-$major"
  after=$("$bin/postgres" --version)
  src="$root/third_party/pgvector"; build=$(mktemp -d)
  echo "services: building pgvector $(ls "$src" | sed -n 's/^pgvector-\(.*\)\.tar\.gz$/\1/p') for PostgreSQL $major" >&2
  tar xzf "$src"/pgvector-*.tar.gz -C "$build" --strip-components=1
  (cd "$build" && make -s PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" OPTFLAGS="" >"$build.log" 2>&1 \
    && make -s PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" install >>"$build.log" 2>&1) \
    || die "building pgvector failed; see $build.log"
  rm -rf "$build" "$build.log"
  if [ "$before" != "$after" ] && [ -f "$data/postmaster.pid" ]; then
    echo "services: PostgreSQL was upgraded ($before -> $after); restarting ours" >&2
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w restart -l "$(dirname "$data")/postgres.log" >/dev/null || die "PostgreSQL did not restart after the upgrade"
  fi
}
pg_is_loraplex() { # the server accepts our test credentials and has our database
  PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=3 "$1/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -tAc "SELECT 1" 2>/dev/null | grep -q 1
}
pg_down() {
  local bin; bin=$(pg_bin) || return 0
  local data; data=$(pg_data_dir)
  [ -f "$data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

# ---------- Redis ----------
redis_up() {
  command -v redis-server >/dev/null || apt_install redis-server redis-tools
  if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
    [ -f "$state/redis.pid" ] && return 0
    # Loraplex's Redis keeps its data in some checkout's .loraplex/services/redis.
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config get dir 2>/dev/null | grep -q '/.loraplex/services/redis$' \
      && { echo "services: reusing the Redis on :$REDIS_PORT that another Loraplex checkout started" >&2; return 0; }
    die "port $REDIS_PORT is used by a Redis that is not Loraplex's; stop it or run with LORAPLEX_REDIS_PORT=<free port below 32768>"
  fi
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is in use by another program; free it or set LORAPLEX_REDIS_PORT"
  mkdir -p "$state/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$state/redis" --daemonize yes \
    --pidfile "$state/redis.pid" --logfile "$state/redis.log" --save "" --appendonly no >/dev/null \
    || die "redis-server did not start; see $state/redis.log"
  wait_for redis 10 sh -c "redis-cli -h 127.0.0.1 -p $REDIS_PORT ping | grep -q PONG" \
    || die "Redis did not answer on port $REDIS_PORT; see $state/redis.log"
}
redis_down() {
  [ -f "$state/redis.pid" ] || return 0 # started by another checkout: theirs to stop
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -f "$state/redis.pid"
}

# ---------- S3 (s3rver) ----------
s3_up() {
  if curl -sf "http://127.0.0.1:$S3_PORT/" >/dev/null 2>&1; then
    [ -f "$state/s3.pid" ] && return 0
    curl -sf "http://127.0.0.1:$S3_PORT/" 2>/dev/null | grep -q "<Name>$S3_BUCKET</Name>" \
      && { echo "services: reusing the S3 server on :$S3_PORT that another Loraplex checkout started" >&2; return 0; }
    die "port $S3_PORT is used by an S3 server without bucket '$S3_BUCKET'; stop it or run with LORAPLEX_S3_PORT=<free port below 32768>"
  fi
  port_open "$S3_PORT" && die "port $S3_PORT is in use by another program; free it or set LORAPLEX_S3_PORT"
  [ -x "$root/node_modules/.bin/s3rver" ] || die "s3rver is not installed; run 'make deps' (npm ci) first"
  local nb; nb=$(node_bin)
  mkdir -p "$state/s3"
  # s3rver plus the multipart abort/list calls it lacks (scripts/s3-server.ts).
  nohup setsid "$nb/node" "$root/scripts/s3-server.ts" --address 127.0.0.1 --port "$S3_PORT" \
    --directory "$state/s3" --configure-bucket "$S3_BUCKET" --silent >"$state/s3.log" 2>&1 </dev/null &
  echo $! >"$state/s3.pid"
  wait_for s3 20 curl -sf "http://127.0.0.1:$S3_PORT/" || die "S3 server did not answer on port $S3_PORT; see $state/s3.log"
}
s3_down() {
  if [ -f "$state/s3.pid" ]; then kill "$(cat "$state/s3.pid")" 2>/dev/null || true; rm -f "$state/s3.pid"; fi
}

print_env() {
  cat <<ENV
export DATABASE_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT
export S3_ENDPOINT=http://127.0.0.1:$S3_PORT
export S3_BUCKET=$S3_BUCKET
ENV
}

status() {
  local bin; bin=$(pg_bin || true)
  if [ -n "$bin" ] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then echo "postgres  up    127.0.0.1:$PG_PORT"; else echo "postgres  down"; fi
  if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then echo "redis     up    127.0.0.1:$REDIS_PORT"; else echo "redis     down"; fi
  if curl -sf "http://127.0.0.1:$S3_PORT/" >/dev/null 2>&1; then echo "s3        up    127.0.0.1:$S3_PORT"; else echo "s3        down"; fi
}

case "${1:-}" in
  up) pg_up; redis_up; s3_up; echo "services: up (postgres :$PG_PORT, redis :$REDIS_PORT, s3 :$S3_PORT)" >&2; print_env ;;
  down) s3_down; redis_down; pg_down; echo "services: stopped" >&2 ;;
  status) status ;;
  env) print_env ;;
  *) die "usage: services.sh up|down|status|env" ;;
esac
