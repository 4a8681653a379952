#!/bin/sh
# Runs one scenario RUNS times in a single boot and stops at the first
# failure: the soak form of a scenario, for a crash seen once in CI (issue
# 18: the virsh scenario until it fails or 20 runs pass).  With ASAN_BUILD
# (an AddressSanitizer build, tools/run's build-asan), every second run
# uses it, with ASAN=1 (scenario-lib.sh).
#   tools/xen-testhost run --timeout 7200 -- "RUNS=20 \
#       BUILD_DIR=$PWD/build ASAN_BUILD=$PWD/build-asan \
#       sh tools/xen-testhost.d/scenario-repeat.sh virsh"
# Each run ends with a line "REPEAT i/RUNS <build> ok|FAILED <seconds> s";
# the last line says how many passed.
top=$(cd "$(dirname "$0")/../.." && pwd)
scenario=${1:?usage: scenario-repeat.sh SCENARIO (virsh, hotplug, ...)}
RUNS=${RUNS:-20}
up() { cut -d' ' -f1 /proc/uptime; }

passed=0
i=1
while [ "$i" -le "$RUNS" ]; do
    if [ -n "${ASAN_BUILD:-}" ] && [ $((i % 2)) = 0 ]; then
        build=$ASAN_BUILD asan=1
    else
        build=${BUILD_DIR:-$top/build} asan=0
    fi
    t0=$(up)
    echo "=== REPEAT run $i of $RUNS ($build)"
    if ASAN=$asan BUILD_DIR=$build sh "$top/tools/xen-testhost.d/scenario-$scenario.sh"; then
        verdict=ok
        passed=$((passed + 1))
    else
        verdict=FAILED
    fi
    echo "REPEAT $i/$RUNS $(basename "$build") $verdict $(awk -v a="$t0" -v b="$(up)" 'BEGIN { printf "%.0f", b - a }') s"
    [ "$verdict" = ok ] || break
    i=$((i + 1))
done
echo "REPEAT SUMMARY: $passed of $RUNS runs passed"
[ "$passed" = "$RUNS" ]
