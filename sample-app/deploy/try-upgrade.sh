#!/usr/bin/env bash
# Starts the sample, loads it with keep-alive and fresh connections (curl) and long-lived clients
# (an event stream and WebSocket sessions, LongLivedClients.java), upgrades it a few times with
# SIGHUP, and prints what the clients saw. Usage: try-upgrade.sh [upgrades] [port]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
jar="$here/target/sample-app.jar"
upgrades=${1:-3}
port=${2:-8080}
management=$((port + 1))
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.loadpid 2>/dev/null) 2>/dev/null || true; [ -f "$work/app.pid" ] && kill "$(cat "$work/app.pid")" 2>/dev/null || true; rm -rf "$work"' EXIT

[ -f "$jar" ] || { echo "no $jar: build it first with ./mvnw -pl sample-app -am package -DskipTests" >&2; exit 1; }
command -v curl >/dev/null || { echo "this script needs curl" >&2; exit 1; }

(cd "$work" && java -jar "$jar" --server.port="$port" --management.server.port="$management" \
	--tableflip.pid-file="$work/app.pid" > "$work/app.log" 2>&1 &)
for _ in $(seq 1 120); do
	curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
	sleep 0.5
done
echo "started: $(curl -s "http://127.0.0.1:$port/")"

# Keep-alive client: each curl run sends 200 requests over one connection.
keepalive() {
	while [ ! -f "$work/stop" ]; do
		curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/?[1-200]" || echo "000"
	done >> "$work/keepalive.codes"
}
# Fresh client: one connection per request.
fresh() {
	while [ ! -f "$work/stop" ]; do
		curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/" || echo "000"
	done >> "$work/fresh.codes"
}
for i in 1 2; do keepalive & echo $! > "$work/k$i.loadpid"; done
for i in 1 2; do fresh & echo $! > "$work/f$i.loadpid"; done
# Long-lived clients: a server-sent event stream that resumes with Last-Event-ID, and 5 WebSocket
# sessions that reopen when they are closed; they print each move to the new process.
java "$here/deploy/LongLivedClients.java" "$port" 5 "$work/stop" & echo $! > "$work/l.loadpid"

sleep 2
for n in $(seq 1 "$upgrades"); do
	old=$(cat "$work/app.pid")
	kill -HUP "$old"
	while kill -0 "$old" 2>/dev/null; do sleep 0.2; done
	echo "upgrade $n: process $old handed over to $(cat "$work/app.pid") and exited"
	sleep 2
done
touch "$work/stop"
wait 2>/dev/null || true

count() { grep -c "$1" "$2" 2>/dev/null || true; }
ka_ok=$(count '^2' "$work/keepalive.codes"); ka_all=$(wc -l < "$work/keepalive.codes")
fr_ok=$(count '^2' "$work/fresh.codes"); fr_all=$(wc -l < "$work/fresh.codes")
echo "keep-alive requests: $ka_all sent, $((ka_all - ka_ok)) failed"
echo "fresh requests:      $fr_all sent, $((fr_all - fr_ok)) failed"
echo "now serving:         $(curl -s "http://127.0.0.1:$port/")"
