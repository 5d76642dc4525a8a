#!/usr/bin/env bash
# Smoke run of `sluice bench`: every scenario for a few seconds against a fresh `sluice serve`
# (disk engine in a temporary directory; auth off) through the SDK, and one pipeline through the
# lean client; the null server, RabbitMQ and NATS JetStream, and a short interleaved A/B. It
# checks that the tool works; it sets no thresholds, and its numbers mean nothing on a busy CI
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/sluice" ./cmd/sluice
"$tmp/sluice" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" --delete-cooldown 0 >"$tmp/serve.log" 2>&1 &
server_pid=$!
addr=
for _ in $(seq 100); do
  addr=$(sed -n 's/.*msg="sluice serving the SQS API" addr=\([^ ]*\).*/\1/p' "$tmp/serve.log")
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { cat "$tmp/serve.log"; echo "sluice serve did not start" >&2; exit 1; }

bench() { "$tmp/sluice" bench --visibility 5s --drain-timeout 20s --size 1024 "$@"; }
sqs=(--target "sqs=http://$addr" --server-pid "$server_pid")
bench "${sqs[@]}" --duration 2s --json "$tmp/pipeline.json" pipeline
bench "${sqs[@]}" --messages 5000 --drain-rate 5000 --chart "$tmp/burst.svg" burst
bench "${sqs[@]}" --duration 2s --producers 1 single
bench "${sqs[@]}" --duration 2s fifo
bench "${sqs[@]}" --duration 2s wake
bench "${sqs[@]}" --duration 1s --tenants 2 --noisy-rate 400 --quiet-rate 20 --drain-rate 300 --chart "$tmp/fair.svg" --json "$tmp/fair.json" fair
bench "${sqs[@]}" --messages 3000 --push-rate 1000 --chart "$tmp/push.svg" --json "$tmp/push.json" push
bench --target "lean=http://$addr" --server-pid "$server_pid" --duration 2s --json "$tmp/lean.json" pipeline
bench --target null --duration 2s pipeline
for peer in rabbitmq nats; do
  bench --target "$peer" --duration 2s pipeline
  bench --target "$peer" --messages 5000 --drain-rate 5000 --chart "$tmp/burst-$peer.svg" burst
done
bench "${sqs[@]}" --target-b null --ab --rounds 2 --duration 1s pipeline
grep -q '"lost": 0' "$tmp/pipeline.json"
grep -q '"lost": 0' "$tmp/lean.json"
grep -q '<polyline' "$tmp/burst.svg"
grep -q '<polyline' "$tmp/fair.svg"
grep -q '<polyline' "$tmp/push.svg"
grep -q '"lost": 0' "$tmp/fair.json"
grep -q '"lost": 0' "$tmp/push.json"
echo "bench-smoke: ok"
