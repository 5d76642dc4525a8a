#!/usr/bin/env bash
# bench-peers.sh: issue #5's comparison. Runs `sluice bench` pipeline against Sluice (disk engine,
# sync=always, a fresh data directory per run), the null server (canned answers, nothing stored:
# the ceiling of this machine for the same calls), RabbitMQ and NATS JetStream (both must already
# run on 127.0.0.1:5672 and :4222), with the AWS SDK and with the lean client for the SQS
# endpoints, at each consumer count, in interleaved rounds; then prints a markdown table of the
# medians, with server CPU per message and recv+del as a share of the null server's with the same
# client. Everything runs on 127.0.0.1; the processes it starts are ended by PID.
#
#   scripts/bench-peers.sh        # BENCH_RUNS=2 BENCH_DURATION=15s BENCH_CONSUMERS="4 8"
#   BENCH_TARGETS="sluice null" BENCH_RUNS=1 scripts/bench-peers.sh
#   BENCH_JSON=docs/bench scripts/bench-peers.sh   # also keep each run's JSON there
#   BENCH_SERVE_ARGS="--sync-gap 0s" scripts/bench-peers.sh   # extra flags for sluice serve
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${BENCH_DURATION:-15s}
RUNS=${BENCH_RUNS:-2}
CONSUMERS=${BENCH_CONSUMERS:-4 8}
TARGETS=${BENCH_TARGETS:-sluice sluice-lean null null-lean rabbitmq nats}
SERVE_ARGS=${BENCH_SERVE_ARGS:-}
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/sluice" ./cmd/sluice
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { # url
	for _ in $(seq 100); do
		if curl -s -o /dev/null "$1" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "$1 did not come up" >&2
	exit 1
}

for peer in rabbitmq:beam.smp nats:nats-server; do
	if [[ " $TARGETS " == *" ${peer%%:*} "* ]] && ! pgrep -o "${peer#*:}" >/dev/null; then
		echo "${peer%%:*} is not running (${peer#*:}): start it, or leave it out of BENCH_TARGETS" >&2
		exit 1
	fi
done

null_port=$(free_port)
"$tmp/sluice" bench null --listen "127.0.0.1:$null_port" 2>>"$tmp/null.log" &
null_pid=$!
pids+=("$null_pid")
wait_up "http://127.0.0.1:$null_port/"

# run TARGET CONSUMERS ROUND: one pipeline run, its JSON in $tmp/TARGET-cC-R.json.
run() {
	local t=$1 c=$2 r=$3 spec pid port serve_pid=""
	case $t in
	sluice | sluice-lean)
		port=$(free_port)
		# shellcheck disable=SC2086 # SERVE_ARGS holds several flags
		"$tmp/sluice" serve --listen "127.0.0.1:$port" --data-dir "$tmp/data-$port" --log-level warn \
			--console=off $SERVE_ARGS 2>>"$tmp/serve.log" &
		serve_pid=$!
		pids+=("$serve_pid")
		wait_up "http://127.0.0.1:$port/healthz"
		pid=$serve_pid
		spec="sqs=http://127.0.0.1:$port"
		[ "$t" = sluice-lean ] && spec="lean=http://127.0.0.1:$port"
		;;
	null) pid=$null_pid spec="null=http://127.0.0.1:$null_port" ;;
	null-lean) pid=$null_pid spec="null-lean=http://127.0.0.1:$null_port" ;;
	rabbitmq) pid=$(pgrep -o beam.smp) spec=rabbitmq ;;
	nats) pid=$(pgrep -o nats-server) spec=nats ;;
	*) echo "unknown target $t" >&2; exit 1 ;;
	esac
	"$tmp/sluice" bench --duration "$DUR" --consumers "$c" --target "$spec" --server-pid "$pid" \
		--json "$tmp/$t-c$c-$r.json" pipeline 2>>"$tmp/bench.log" | grep '^pipeline' || {
		echo "run $t c=$c round $r failed:" >&2
		tail -20 "$tmp/bench.log" >&2
		exit 1
	}
	if [ -n "$serve_pid" ]; then
		kill "$serve_pid"
		wait "$serve_pid" 2>/dev/null || true
		rm -rf "$tmp/data-$port"
	fi
	if [ -n "${BENCH_JSON:-}" ]; then
		mkdir -p "$BENCH_JSON"
		cp "$tmp/$t-c$c-$r.json" "$BENCH_JSON/peers-pipeline-$t-c$c-$r.json"
	fi
}

echo "commit $(git rev-parse --short HEAD), $(date -u +%FT%TZ), $(nproc) CPUs, pipeline P4 B10 S1024 for $DUR, $RUNS round(s)"
for c in $CONSUMERS; do
	for r in $(seq "$RUNS"); do
		for t in $TARGETS; do run "$t" "$c" "$r"; done
	done
done

python3 - "$tmp" "$TARGETS" "$CONSUMERS" "$RUNS" <<'EOF'
import json, statistics, sys
tmp, targets, consumers, runs = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4])
def med(t, c, f):
    vals = []
    for r in range(1, runs + 1):
        d = json.load(open(f"{tmp}/{t}-c{c}-{r}.json"))
        v = f(d)
        if v is not None:
            vals.append(v)
    return statistics.median(vals) if vals else None
def fmt(v, spec=",.0f"):
    return "-" if v is None else format(v, spec)
print()
print("| target | consumers | sent msg/s | recv+del msg/s | recv+del / null's (same client) | e2e p50 / p99 ms | server CPU µs/msg | client CPU µs/msg |")
print("|---|---|---|---|---|---|---|---|")
for c in consumers:
    null = {"sdk": med("null", c, lambda d: d["recv_delete_msg_per_s"]) if "null" in targets else None,
            "lean": med("null-lean", c, lambda d: d["recv_delete_msg_per_s"]) if "null-lean" in targets else None}
    for t in targets:
        rd = med(t, c, lambda d: d["recv_delete_msg_per_s"])
        base = null["lean"] if t.endswith("-lean") else null["sdk"]
        share = "-" if base is None or t.startswith("null") or t in ("rabbitmq", "nats") else f"{100 * rd / base:.1f}%"
        lat = lambda d, k: (d.get("e2e_latency") or {}).get(k)
        print(f"| {t} | {c} | {fmt(med(t, c, lambda d: d['send_msg_per_s']))} | {fmt(rd)} | {share} | "
              f"{fmt(med(t, c, lambda d: lat(d, 'p50_ms')), '.1f')} / {fmt(med(t, c, lambda d: lat(d, 'p99_ms')), '.1f')} | "
              f"{fmt(med(t, c, lambda d: d.get('server_cpu_us_per_msg')), '.1f')} | {fmt(med(t, c, lambda d: d.get('client_cpu_us_per_msg')), '.1f')} |")
EOF
