#!/usr/bin/env bash
# Makes sure the PostgreSQL the tests use is reachable (SLUICE_TEST_POSTGRES_URL, default the
# local cluster's database "test"). If it is not, starts the local cluster with pg_ctlcluster.
# Fails if it still cannot connect: the PostgreSQL engine's tests never skip.
set -euo pipefail
url=${SLUICE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
ready() { psql "$url" -qAtc 'select 1' >/dev/null 2>&1; }
if ready; then
  exit 0
fi
if ! command -v psql >/dev/null; then
  echo "postgres-up: psql not found; install postgresql-client (the tests need PostgreSQL 15+)" >&2
  exit 1
fi
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  for version in $(ls /etc/postgresql); do
    echo "postgres-up: starting the local PostgreSQL $version cluster"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 60); do
    if ready; then
      exit 0
    fi
    sleep 0.5
  done
fi
echo "postgres-up: cannot connect to $url (set SLUICE_TEST_POSTGRES_URL to a PostgreSQL 15+ database)" >&2
psql "$url" -qAtc 'select 1' >&2 || true
exit 1
