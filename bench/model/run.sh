#!/usr/bin/env bash
# Runs the model of a serving process (serving-model.c) alone and beside two busy loops, each
# setting once per round, the rounds interleaved, and prints one line per run. The figures of
# performance.md ("A model of the serving process, outside the JVM") came from these settings.
#
# usage: bench/model/run.sh [ROUNDS (2)] [RATE (8000)] [WORK_US (100)] [SECONDS (10)]
# Needs gcc; the SCHED_RR setting needs root, and a kernel with real-time group scheduling a
# real-time runtime for this shell's cgroup (it is skipped, with the reason, where chrt fails).
set -euo pipefail
rounds=${1:-2} rate=${2:-8000} work=${3:-100} seconds=${4:-10}
here=$(cd "$(dirname "$0")" && pwd)
build=$(mktemp -d)
loops=()
cleanup() {
	for loop in "${loops[@]}"; do kill "$loop" 2>/dev/null || true; done
	rm -rf "$build"
}
trap cleanup EXIT
gcc -O2 -pthread -o "$build/serving-model" "$here/serving-model.c" -lm
model() { "$build/serving-model" "$rate" "$work" "$seconds" "$@"; }

# two busy loops, one per CPU of this machine kind, started under $1 (a command prefix)
beside() {
	for _ in 1 2; do $1 bash -c 'while :; do :; done' & loops+=($!); done
	sleep 0.5
}
stop_loops() {
	for loop in "${loops[@]}"; do kill "$loop" 2>/dev/null || true; done
	wait "${loops[@]}" 2>/dev/null || true
	loops=()
}

rr=yes
if ! chrt -r 1 true 2>/dev/null; then
	rr="chrt -r 1 failed (it needs root, and real-time runtime for this cgroup)"
fi
echo "$rate requests/s of ${work} µs each, ${seconds} s a run, $(nproc) CPUs, $(uname -r)"
for round in $(seq "$rounds"); do
	echo "round $round"
	echo "  alone, the kernel's slice:                  $(model 16)"
	echo "  alone, 0.1 ms slices:                       $(model 16 100)"
	beside "nice -n 19"
	echo "  beside two loops at nice 19:                $(model 16)"
	echo "  beside two loops at nice 19, 0.1 ms slices: $(model 16 100)"
	echo "  the same with 2 workers:                    $(model 2 100)"
	if [ "$rr" = yes ]; then
		echo "  beside two loops at nice 19, SCHED_RR 1:    $(chrt -r 1 "$build/serving-model" "$rate" "$work" "$seconds")"
	fi
	stop_loops
	beside "chrt --idle 0"
	echo "  beside two loops at SCHED_IDLE:             $(model 16)"
	stop_loops
done
[ "$rr" = yes ] || echo "SCHED_RR skipped: $rr"
