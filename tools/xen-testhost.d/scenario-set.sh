#!/bin/sh
# Several scenarios in one boot of the test host, one after the other
# (tests/realxen/test_xen_backend.py runs the short ones so: a boot costs
# a minute under TCG).  Each one's output is framed by
#   === SCENARIO-BEGIN NAME
#   === SCENARIO-END NAME rc=N
# and each starts with no core and no guest console log of an earlier one
# (they move to /tmp/cores.NAME-before), so its finish counts only its own
# crashes.
#   tools/xen-testhost run --timeout 1500 -- \
#       "BUILD_DIR=$PWD/build sh tools/xen-testhost.d/scenario-set.sh xlite xstree"
top=$(cd "$(dirname "$0")/../.." && pwd)
for name in "$@"; do
    for f in /tmp/cores/core.* /var/log/xen/console/guest-*.log; do
        [ -e "$f" ] || continue
        mkdir -p "/tmp/cores.$name-before"
        mv "$f" "/tmp/cores.$name-before/"
    done
    echo "=== SCENARIO-BEGIN $name"
    sh "$top/tools/xen-testhost.d/scenario-$name.sh"
    echo "=== SCENARIO-END $name rc=$?"
done
