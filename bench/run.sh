#!/usr/bin/env bash
# Builds the sample and the benchmark, then runs it: prints the tables and writes them to
# bench/results.md. Arguments go to the benchmark, e.g.: bench/run.sh --repeat 3 --upgrades 5
set -euo pipefail
cd "$(dirname "$0")/.."
./mvnw -q -B -pl sample-app,bench -am package -DskipTests
exec java -jar bench/target/bench.jar --jar sample-app/target/sample-app.jar --out bench/results.md "$@"
