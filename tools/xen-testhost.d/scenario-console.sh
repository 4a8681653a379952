#!/bin/sh
# A second PV console on real Xen, through virsh (a report, not in the
# suite):
#   tools/xen-testhost run --timeout 1500 -- \
#       "BUILD_DIR=$PWD/build sh tools/xen-testhost.d/scenario-console.sh"
# xenconsoled serves a domain's first console only; libxl has a QEMU serve
# the others, and this toolstack starts none for a PV guest yet.  Its run
# of 2026-12-02 showed the attach waiting out the device timeout ("no pty
# for console 1 ... within 10.0 s"): now the attach of console 1 to the
# running test guest is refused at once, saying why, with nothing left in
# xenstore or the live XML, and a start of a guest defined with two
# consoles is refused the same way.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tools/xen-testhost.d/scenario-lib.sh"

NAME=xth-con

step "host: a bridge, a disk image; libvirtd with the Xenvirt plugin"
make_bridge
make_disk /tmp/disk1.img
if ! libvirtd_private start /tmp/lvd "$BUILD" > /tmp/lvd.uri; then
    check libvirtd-start false
    finish
fi
URI=$(tail -1 /tmp/lvd.uri)
V() { timeout 300 virsh -c "$URI" "$@"; }
live_has() { V dumpxml $NAME | grep -q "$1"; }
live_lacks() { ! live_has "$1"; }
gone() { ! xenstore-exists "$be" && ! xenstore-exists "$fe"; }
pv_guest_xml $NAME 00:16:3e:00:01:05 > /tmp/$NAME.xml
cat > /tmp/console1.xml <<XML
<console type='pty'>
  <target type='xen' port='1'/>
</console>
XML

step "define and start"
b=$(boots $NAME)
check define V define /tmp/$NAME.xml
check start V start $NAME
domid=$(V domid $NAME | head -1)
check_guest_alive "$domid" $NAME $NAME "$b"
be=/local/domain/0/backend/console/$domid/1
fe=/local/domain/$domid/device/console/1

step "attach console 1: refused at once, nothing left"
t0=$(up)
V attach-device $NAME /tmp/console1.xml --live > /tmp/attach.out 2>&1
rc=$?
took=$(since "$t0")
cat /tmp/attach.out
echo "attach: exit $rc after $took s"
check attach-refused [ "$rc" != 0 ]
check attach-says-why grep -q "QEMU's Xen console backend" /tmp/attach.out
# The device timeout is 10 s: a refusal that waited it out is a bug.
check attach-not-timed-out awk -v t="$took" 'BEGIN { exit !(t < 10) }'
check nothing-left gone
check live-xml-unchanged live_lacks "port='1'"
check guest-still-alive V domstate $NAME

step "destroy; a guest defined with two consoles is refused at start"
check destroy V destroy $NAME
check attach-config V attach-device $NAME /tmp/console1.xml --config
V start $NAME > /tmp/start.out 2>&1
rc=$?
cat /tmp/start.out
check start-refused [ "$rc" != 0 ]
check start-says-why grep -q "QEMU's Xen console backend" /tmp/start.out
check nothing-running sh -c "! xl list | grep -q $NAME"
check undefine V undefine $NAME
libvirtd_private stop /tmp/lvd
finish
