# Sourced by .ci/test: starts a throwaway PostgreSQL on 127.0.0.1 for the integration tests and
# exports ORDERTRAIL_TEST_POSTGRES_URL. Installs the server from Debian's packages when missing.
# The cluster lives in a temporary folder and is stopped when the calling shell exits.

pg_bin_dir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

start_postgres() {
  local bin
  bin=$(pg_bin_dir)
  if [ -z "$bin" ] || [ ! -x "$bin/pg_ctl" ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "PostgreSQL is not installed and this user cannot install it (apt-get needs root)." >&2
      return 1
    fi
    echo "installing PostgreSQL from Debian's packages..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    bin=$(pg_bin_dir)
  fi
  PG_TMP=$(mktemp -d /tmp/ordertrail-pg.XXXXXX)
  local run=()
  if [ "$(id -u)" = 0 ]; then
    # initdb refuses to run as root: the cluster belongs to the postgres user.
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$PG_TMP"
    run=(runuser -u postgres --)
  fi
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${run[@]}" "$bin/initdb" -D "$PG_TMP/data" -A trust -U postgres --no-sync >/dev/null
  "${run[@]}" "$bin/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/log" -w -t 60 \
    -o "-p $PG_PORT -k $PG_TMP -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  export PG_TMP PG_BIN="$bin" PG_RUN="${run[*]}"
  export ORDERTRAIL_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
}

stop_postgres() {
  if [ -n "${PG_TMP:-}" ] && [ -d "$PG_TMP/data" ]; then
    $PG_RUN "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_TMP"
  fi
}
