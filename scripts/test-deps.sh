#!/usr/bin/env bash
# Installs what the tests need beyond Go: staticcheck (from the Go module proxy) and Debian's
# awscli 2.9 (the query-protocol client of the end-to-end test).
set -euo pipefail
version=${1:-v0.8.2}
gobin=$(go env GOPATH)/bin
if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "${version#v}"; then
  echo "installing staticcheck $version"
  go install "honnef.co/go/tools/cmd/staticcheck@$version"
fi
if ! /usr/bin/aws --version 2>/dev/null | grep -q '^aws-cli/2\.9\.'; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian's awscli"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli >/dev/null
  else
    echo "the end-to-end test needs Debian's awscli 2.9: sudo apt-get install awscli" >&2
    exit 1
  fi
fi
# The console's browser test (tests/console) drives headless Chromium; under CI=true it fails
# without it.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian's chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "the console's browser test needs chromium: sudo apt-get install chromium" >&2
    exit 1
  fi
fi
# The PostgreSQL engine's tests need a reachable PostgreSQL 15+; start the local one if needed.
"$(dirname "$0")/postgres-up.sh"
# sluice bench's peer tests need RabbitMQ (127.0.0.1:5672) and NATS with JetStream
# (127.0.0.1:4222); start the local ones if they are down (the tests fail, never skip, without).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! port_open 5672; then
  echo "starting rabbitmq-server"
  rabbitmq-server -detached
fi
if ! port_open 4222; then
  echo "starting nats-server"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server
fi
for _ in $(seq 60); do port_open 5672 && port_open 4222 && break; sleep 1; done
if ! port_open 5672 || ! port_open 4222; then
  echo "RabbitMQ (5672) or NATS (4222) did not come up" >&2
  exit 1
fi
