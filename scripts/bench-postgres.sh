#!/usr/bin/env bash
# bench-postgres.sh: the PostgreSQL engine's benchmark (issue #6). Runs `sluice bench` pipeline and
# burst against one disk node (the baseline), one postgres node, and three postgres nodes sharing
# one schema of the local PostgreSQL, and prints a markdown table with msg/s, latency, the CPU
# of the sluice nodes and of PostgreSQL per message, WAL fsyncs per message, and the wait events
# sampled in pg_stat_activity during the runs. Everything runs on 127.0.0.1 and stops by itself;
# the processes it starts are ended by PID and the schema is dropped.
#
#   scripts/bench-postgres.sh            # BENCH_DURATION=15s BENCH_BURST=100000 by default
set -euo pipefail
cd "$(dirname "$0")/.."
PGURL=${SLUICE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
DUR=${BENCH_DURATION:-15s}
BURST=${BENCH_BURST:-100000}
tmp=$(mktemp -d)
pids=()
schema="bench_$(date +%s)_$$"
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	psql "$PGURL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/sluice" ./cmd/sluice
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { # utime+stime of the given pids, in clock ticks
	local t=0 p
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat")))
	done
	echo "$t"
}
pg_pids() { pgrep -u postgres -x postgres | tr '\n' ' '; }
# pg_ticks_snapshot prints "pid ticks" for every PostgreSQL process; pg_ticks_since sums, over the
# processes alive at the end, their ticks since the snapshot (new processes from 0), so that a
# backend that exits in between does not make the sum go negative (its last ticks are missed).
pg_ticks_snapshot() { local p; for p in $(pg_pids); do echo "$p $(ticks "$p")"; done; }
pg_ticks_since() { # snapshot-file
	local t=0 p now before
	for p in $(pg_pids); do
		now=$(ticks "$p"); before=$(awk -v p="$p" '$1 == p {print $2}' "$1")
		t=$((t + now - ${before:-0}))
	done
	echo "$t"
}
wal_syncs() { psql "$PGURL" -Atqc "SELECT wal_sync FROM pg_stat_wal"; }

nodes=()  # URLs of the running nodes
node_pids=()
start_node() { # storage
	local port; port=$(free_port)
	if [ "$1" = disk ]; then
		"$tmp/sluice" serve --listen "127.0.0.1:$port" --data-dir "$tmp/data-$port" --log-level warn --console=off 2>>"$tmp/serve.log" &
	else
		"$tmp/sluice" serve --listen "127.0.0.1:$port" --storage postgres --postgres-url "$PGURL" \
			--postgres-schema "$schema" --log-level warn --console=off 2>>"$tmp/serve.log" &
	fi
	local pid=$!
	pids+=("$pid"); node_pids+=("$pid"); nodes+=("http://127.0.0.1:$port")
	for _ in $(seq 100); do
		if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	echo "node on port $port did not come up" >&2; cat "$tmp/serve.log" >&2; exit 1
}
stop_nodes() {
	for p in "${node_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	node_pids=(); nodes=()
}

rows=()
run() { # label scenario args...
	local label=$1 scenario=$2; shift 2
	local target; target="sqs=$(IFS=,; echo "${nodes[*]}")"
	local s0 w0; s0=$(ticks "${node_pids[@]}"); pg_ticks_snapshot >"$tmp/pg0"; w0=$(wal_syncs)
	( while :; do psql "$PGURL" -Atqc "SELECT wait_event_type||':'||wait_event FROM pg_stat_activity
		WHERE state = 'active' AND wait_event IS NOT NULL AND query NOT LIKE '%pg_stat_activity%'" 2>/dev/null; sleep 0.2; done ) >"$tmp/waits" &
	local sampler=$!
	"$tmp/sluice" bench --target "$target" --json "$tmp/r.json" --chart "" "$@" "$scenario" | tee -a "$tmp/summaries"
	kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
	local s1 pt w1; s1=$(ticks "${node_pids[@]}"); pt=$(pg_ticks_since "$tmp/pg0"); w1=$(wal_syncs)
	local top; top=$(sort "$tmp/waits" | uniq -c | sort -rn | head -3 | awk '{printf "%s%s ×%d", (NR>1?", ":""), $2, $1}')
	rows+=("$(python3 - "$tmp/r.json" "$label" "$scenario" "$((s1-s0))" "$pt" "$((w1-w0))" "$(getconf CLK_TCK)" "$top" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
label, scenario, sticks, pticks, wal, hz, top = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), sys.argv[8]
msgs = max((r["sent"] + r["received"] + r["deleted"]) / 3, 1)
if scenario == "burst":
    b = r["burst"]
    rate = f'accept {b["accept_msg_per_s"]:,.0f} msg/s, drain {b["drain_s"]:.1f} s' + ('' if b["drained"] else ' (not drained)')
    lat = f'send-batch p99 {r["send_batch_latency"]["p99_ms"]:.1f} ms'
else:
    rate = f'{r["send_msg_per_s"]:,.0f} sent, {r["recv_delete_msg_per_s"]:,.0f} recv+del msg/s'
    lat = f'e2e p50 {r["e2e_latency"]["p50_ms"]:.1f} ms, p99 {r["e2e_latency"]["p99_ms"]:.1f} ms'
lost = r.get("lost")
print(f'| {label} | {scenario} | {rate} | {lat} | {lost} | {sticks/hz*1e6/msgs:.0f} | {pticks/hz*1e6/msgs:.0f} | {wal/msgs:.3f} | {top or "-"} |')
PY
)")
}

start_node disk
run "disk, 1 node" pipeline --duration "$DUR"
run "disk, 1 node" burst --messages "$BURST" --drain-rate 20000 --drain-timeout 300s
stop_nodes
start_node postgres
run "postgres, 1 node" pipeline --duration "$DUR"
run "postgres, 1 node" burst --messages "$BURST" --drain-rate 20000 --drain-timeout 300s
stop_nodes
start_node postgres; start_node postgres; start_node postgres
run "postgres, 3 nodes" pipeline --duration "$DUR"
run "postgres, 3 nodes" burst --messages "$BURST" --drain-rate 20000 --drain-timeout 300s
stop_nodes

echo
echo "commit $(git rev-parse --short HEAD), $(nproc) cores shared by the nodes, PostgreSQL and the load generator; 4 producers, 4 consumers, batches of 10, 1 KiB"
echo
echo "| setup | scenario | throughput | latency | lost | sluice CPU µs/msg | PostgreSQL CPU µs/msg | WAL fsyncs/msg | top wait events (samples) |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
