#!/bin/sh
# Runs one scenario RUNS times in a single boot: the soak form of a
# scenario, for a crash seen once in CI (issue 18: the virsh scenario until
# a crash shows or 20 runs pass).  It stops at the first run in which a
# program under test crashed (a core of libvirtd or xlite, or a sanitizer
# report).  A run with failed checks goes on to the next, counted as
# failed, or as an environment fault when the scenario blamed the test
# host (a guest or another program of dom0 crashing: scenario-lib.sh).
# With ASAN_BUILD (an AddressSanitizer build, tools/run's build-asan),
# every second run uses it, with ASAN=1 (scenario-lib.sh).
#   tools/xen-testhost run --timeout 7200 -- "RUNS=20 \
#       BUILD_DIR=$PWD/build ASAN_BUILD=$PWD/build-asan \
#       sh tools/xen-testhost.d/scenario-repeat.sh virsh"
# Each run ends with a line "REPEAT i/RUNS <build> ok|FAILED|CRASHED
# <seconds> s [failed checks]"; the last line sums them up.
top=$(cd "$(dirname "$0")/../.." && pwd)
scenario=${1:?usage: scenario-repeat.sh SCENARIO (virsh, hotplug, ...)}
RUNS=${RUNS:-20}
up() { cut -d' ' -f1 /proc/uptime; }

passed=0 failed=0 envfault=0
i=1
while [ "$i" -le "$RUNS" ]; do
    if [ -n "${ASAN_BUILD:-}" ] && [ $((i % 2)) = 0 ]; then
        build=$ASAN_BUILD asan=1
    else
        build=${BUILD_DIR:-$top/build} asan=0
    fi
    t0=$(up)
    echo "=== REPEAT run $i of $RUNS ($build)"
    # Each run starts without the cores of the one before, and with the
    # guests' console logs empty (xenconsoled appends to them).
    rm -f /tmp/cores/core.* /tmp/asan-reports/asan.*
    for log in /var/log/xen/console/guest-*.log; do
        [ -e "$log" ] && : > "$log"
    done
    # Printed as it runs, not at the end: a run that hangs shows where.
    { ASAN=$asan BUILD_DIR=$build \
          sh "$top/tools/xen-testhost.d/scenario-$scenario.sh" 2>&1
      echo $? > /tmp/repeat.rc; } | tee /tmp/repeat.out
    rc=$(cat /tmp/repeat.rc)
    if grep -q "^CRASH UNDER TEST\|AddressSanitizer" /tmp/repeat.out; then
        verdict=CRASHED
    elif [ "$rc" = 0 ]; then
        verdict=ok
        passed=$((passed + 1))
    elif grep -q "^ENVIRONMENT FAULT" /tmp/repeat.out; then
        verdict=ENV-FAULT
        envfault=$((envfault + 1))
    else
        verdict=FAILED
        failed=$((failed + 1))
    fi
    echo "REPEAT $i/$RUNS $(basename "$build") $verdict $(awk -v a="$t0" -v b="$(up)" 'BEGIN { printf "%.0f", b - a }') s" \
        "$(grep "^CHECK .* FAIL$" /tmp/repeat.out | cut -d' ' -f2 | tr '\n' ' ')"
    [ "$verdict" = CRASHED ] && break
    i=$((i + 1))
done
echo "REPEAT SUMMARY: $((i > RUNS ? RUNS : i)) runs: $passed passed, $failed failed, $envfault environment faults, $([ "${verdict:-}" = CRASHED ] && echo 1 || echo 0) crashed"
[ "$passed" = "$RUNS" ]
