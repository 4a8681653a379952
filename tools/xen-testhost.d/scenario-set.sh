#!/bin/sh
# Several scenarios in one boot of the test host, one after the other
# (tests/realxen/test_xen_backend.py runs the short ones so: a boot costs
# a minute under TCG).  Each one's output is framed by
#   === SCENARIO-BEGIN NAME
#   === SCENARIO-END NAME rc=N
# and each starts with no core of an earlier one in /tmp/cores (they move
# to /tmp/cores.NAME-before), so its finish counts only its own crashes.
#   tools/xen-testhost run --timeout 1500 -- \
#       "BUILD_DIR=$PWD/build sh tools/xen-testhost.d/scenario-set.sh xlite xstree"
top=$(cd "$(dirname "$0")/../.." && pwd)
for name in "$@"; do
    if ls /tmp/cores/core.* > /dev/null 2>&1; then
        mkdir -p "/tmp/cores.$name-before"
        mv /tmp/cores/core.* "/tmp/cores.$name-before/"
    fi
    echo "=== SCENARIO-BEGIN $name"
    sh "$top/tools/xen-testhost.d/scenario-$name.sh"
    echo "=== SCENARIO-END $name rc=$?"
done
