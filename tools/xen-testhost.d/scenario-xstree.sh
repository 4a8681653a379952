#!/bin/sh
# The xenstore tree of the PV test guest on real Xen, for the golden file
# tests/integration/data/xstree-realxen-pv.txt (test_xstree.py compares
# the simulated host's tree with it).  Runs in dom0 under tools/xen-testhost:
#   tools/xen-testhost run --timeout 1500 -- \
#       "BUILD_DIR=$PWD/build sh tools/xen-testhost.d/scenario-xstree.sh"
# The guest (pv_guest_xml: one disk, one NIC, one console) is started
# through the plugin in a private libvirtd; once it is alive and its disk
# and NIC are connected, `xenstore-ls -fp` of every path the guest's start
# wrote is printed between the lines XSTREE-BEGIN PATH and XSTREE-END PATH
# (the console's lines end in CR LF).  tests/integration/xstree.py turns
# that output into the golden file.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tools/xen-testhost.d/scenario-lib.sh"

NAME=xth-xstree
XLITE_STATE=/tmp/lvd/root/var/lib/xenvirt

step "host: a bridge, a disk image; libvirtd with the Xenvirt plugin"
make_bridge
make_disk /tmp/disk1.img
if ! libvirtd_private start /tmp/lvd "$BUILD" > /tmp/lvd.uri; then
    check libvirtd-start false
    tail -20 /tmp/lvd/libvirtd.log
    finish
fi
URI=$(tail -1 /tmp/lvd.uri)
V() { timeout 300 virsh -c "$URI" "$@"; }

# The MAC test_xstree.py gives the simulated guest too.
pv_guest_xml $NAME 00:16:3e:00:00:13 > /tmp/$NAME.xml

step "define and start"
b=$(boots $NAME)
check define V define /tmp/$NAME.xml
check start V start $NAME
domid=$(V domid $NAME | head -1)
uuid=$(V domuuid $NAME | head -1)
echo "domid $domid uuid $uuid"
check_guest_alive "$domid" $NAME $NAME "$b"
check_devices "$domid"
# The console backend's and frontend's state settle last.
wait_for 30 xs_is "/local/domain/$domid/device/vbd/51712/state" 4
wait_for 30 xs_is "/local/domain/$domid/device/vif/0/state" 4
sleep 5

step "the tree"
echo "XSTREE-INFO domid=$domid uuid=$uuid xen=$(xl info 2>/dev/null | awk '/^xen_version/ {print $3}') dom0-kernel=$(uname -r) date=$(date -u +%Y-%m-%dT%H:%MZ)"
dump() {   # PATH
    echo "XSTREE-BEGIN $1"
    xenstore-ls -fp "$1" 2>&1
    echo "XSTREE-END $1"
}
dump "/local/domain/$domid"
for k in vbd vif console qdisk vkbd vfb; do
    xenstore-exists "/local/domain/0/backend/$k/$domid" 2>/dev/null &&
        dump "/local/domain/0/backend/$k/$domid"
done
dump "/vm/$uuid"
for p in "/libxl/$domid" "/libxlite"; do
    xenstore-exists "$p" 2>/dev/null && dump "$p"
done
# What else mentions the domain (a path we did not think of).
echo "XSTREE-BEGIN other"
xenstore-ls -f / 2>/dev/null | grep -E "/$domid(/| )|$uuid" |
    grep -vE "^/local/domain/$domid[/ ]|^/local/domain/0/backend/[a-z]+/$domid[/ ]|^/vm/$uuid[/ ]|^/libxl/$domid[/ ]"
echo "XSTREE-END other"

step "destroy, undefine"
check destroy V destroy $NAME
check undefine V undefine $NAME
libvirtd_private stop /tmp/lvd
finish
