#!/usr/bin/env bash
# bench-postgres.sh: the PostgreSQL engine's benchmark (issue #6). Runs `sluice bench` pipeline and
# burst against one disk node (the baseline), one postgres node, and three postgres nodes sharing
# one schema of the local PostgreSQL, and prints a markdown table with msg/s, latency, the CPU
# of the sluice nodes and of PostgreSQL per message, WAL fsyncs per message, and the wait events
# sampled in pg_stat_activity during the runs. The three setups run in turn, BENCH_RUNS rounds
# (interleaved, each postgres setup on a fresh schema); the table gives the median of the rounds.
# Everything runs on 127.0.0.1; the processes it starts are ended by PID and the schemas dropped.
#
#   scripts/bench-postgres.sh      # BENCH_RUNS=2 BENCH_DURATION=15s BENCH_BURST=100000 by default
#   BENCH_SETUPS="pg1" BENCH_SIZE=100 scripts/bench-postgres.sh   # one setup, 100-byte bodies
set -euo pipefail
cd "$(dirname "$0")/.."
PGURL=${SLUICE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
DUR=${BENCH_DURATION:-15s}
BURST=${BENCH_BURST:-100000}
RUNS=${BENCH_RUNS:-2}
SIZE=${BENCH_SIZE:-1024}
SETUPS=${BENCH_SETUPS:-disk pg1 pg3}
tmp=$(mktemp -d)
pids=()
base="bench_$(date +%s)_$$"
schemas=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for s in "${schemas[@]}"; do psql "$PGURL" -qc "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || true; done
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

# run appends one JSON line per run to $tmp/runs. CPU, WAL fsyncs and wait events are taken over
# the whole `sluice bench` invocation, final drain included, and divided by the messages sent:
# every one of them has been sent, received and deleted by the end (the table's "lost" says so).
run() { # label scenario args...
	local label=$1 scenario=$2; shift 2
	local target pidlist; target="sqs=$(IFS=,; echo "${nodes[*]}")"; pidlist=$(IFS=,; echo "${node_pids[*]}")
	local s0 w0; s0=$(ticks "${node_pids[@]}"); pg_ticks_snapshot >"$tmp/pg0"; w0=$(wal_syncs)
	( while :; do psql "$PGURL" -Atqc "SELECT wait_event_type||':'||wait_event FROM pg_stat_activity
		WHERE state = 'active' AND wait_event IS NOT NULL AND query NOT LIKE '%pg_stat_activity%'" 2>/dev/null; sleep 0.2; done ) >"$tmp/waits" &
	local sampler=$!
	"$tmp/sluice" bench --target "$target" --server-pid "$pidlist" --size "$SIZE" --json "$tmp/r.json" --chart "" "$@" "$scenario" | tee -a "$tmp/summaries"
	kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
	local s1 pt w1; s1=$(ticks "${node_pids[@]}"); pt=$(pg_ticks_since "$tmp/pg0"); w1=$(wal_syncs)
	python3 - "$tmp/r.json" "$label" "$scenario" "$((s1-s0))" "$pt" "$((w1-w0))" "$(getconf CLK_TCK)" "$tmp/waits" >>"$tmp/runs" <<'PY'
import collections, json, sys
r = json.load(open(sys.argv[1]))
label, scenario, sticks, pticks, wal, hz = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
waits = collections.Counter(l.strip() for l in open(sys.argv[8]) if l.strip())
n = max(r["sent"], 1)
row = {"label": label, "scenario": scenario, "lost": r.get("lost"), "waits": waits,
       "sluice_cpu": sticks / hz * 1e6 / n, "pg_cpu": pticks / hz * 1e6 / n, "wal": wal / n}
if scenario == "burst":
    b = r["burst"]
    row.update(accept=b["accept_msg_per_s"], drain=b["drain_s"], drained=b["drained"], lat=r["send_batch_latency"]["p99_ms"])
else:
    row.update(sent=r["send_msg_per_s"], recv=r["recv_delete_msg_per_s"], p50=r["e2e_latency"]["p50_ms"], p99=r["e2e_latency"]["p99_ms"])
print(json.dumps(row))
PY
}

setup() { # disk | pg1 | pg3
	case $1 in
	disk) start_node disk ;;
	pg1) schema="${base}_$((${#schemas[@]} + 1))"; schemas+=("$schema"); start_node postgres ;;
	pg3) schema="${base}_$((${#schemas[@]} + 1))"; schemas+=("$schema"); start_node postgres; start_node postgres; start_node postgres ;;
	esac
}
declare -A labels=([disk]="disk, 1 node" [pg1]="postgres, 1 node" [pg3]="postgres, 3 nodes")
for round in $(seq "$RUNS"); do
	for s in $SETUPS; do
		echo "== round $round: ${labels[$s]}"
		setup "$s"
		run "${labels[$s]}" pipeline --duration "$DUR"
		run "${labels[$s]}" burst --messages "$BURST" --drain-rate 20000 --drain-timeout 300s
		stop_nodes
	done
done

echo
echo "commit $(git rev-parse --short HEAD), $(nproc) cores shared by the nodes, PostgreSQL and the load generator; 4 producers, 4 consumers, batches of 10, $SIZE-byte bodies; median of $RUNS runs"
echo
echo "| setup | scenario | throughput | latency | lost | sluice CPU µs/msg | PostgreSQL CPU µs/msg | WAL fsyncs/msg | top wait events (samples, all runs) |"
echo "|---|---|---|---|---|---|---|---|---|"
python3 - "$tmp/runs" <<'PY'
import collections, json, statistics, sys
groups = collections.OrderedDict()
for line in open(sys.argv[1]):
    r = json.loads(line)
    groups.setdefault((r["label"], r["scenario"]), []).append(r)
for (label, scenario), rs in groups.items():
    med = lambda k: statistics.median(r[k] for r in rs)
    if scenario == "burst":
        nd = sum(not r["drained"] for r in rs)
        rate = f'accept {med("accept"):,.0f} msg/s, drain {med("drain"):.1f} s' + (f' ({nd} not drained)' if nd else '')
        lat = f'send-batch p99 {med("lat"):.1f} ms'
    else:
        rate = f'{med("sent"):,.0f} sent, {med("recv"):,.0f} recv+del msg/s'
        lat = f'e2e p50 {med("p50"):.0f} ms, p99 {med("p99"):.0f} ms'
    lost = "/".join(str(r["lost"]) for r in rs)
    waits = collections.Counter()
    for r in rs:
        waits.update(r["waits"])
    top = ", ".join(f"{k} ×{v}" for k, v in waits.most_common(3)) or "-"
    print(f'| {label} | {scenario} | {rate} | {lat} | {lost} | {med("sluice_cpu"):.0f} | {med("pg_cpu"):.0f} | {med("wal"):.3f} | {top} |')
PY
