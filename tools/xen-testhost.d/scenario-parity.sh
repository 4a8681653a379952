#!/bin/sh
# Host facts side by side on real Xen: our plugin and Debian's own libvirt
# Xen driver (libxl), in one boot of the test host.  Runs in dom0 under
# tools/xen-testhost:
#   tools/xen-testhost run --timeout 1800 -- \
#       "BUILD_DIR=... sh tools/xen-testhost.d/scenario-parity.sh"
# Needs a build (tools/run build) and Debian's libxl module unpacked into
# .cache/bench-libxl/root (bench/realxen-vs-libxl fetches it: the package
# libvirt-daemon-driver-xen, never installed).
#
# Each driver runs in its own private libvirtd (tools/libvirtd-private),
# one after the other so that they never manage the host together; each
# prints `virsh capabilities`, `virsh domcapabilities` and the `dumpxml`
# of the same PV test guest (same name, uuid, MAC, disk) while it runs.
# Then the diffs, ours against Debian's.  A report, not a test: it checks
# only that both drivers answered (CHECK lines); the differences are read
# and listed in docs/libvirt-compat.md.
#
# Debian's driver needs a CPU model for what Xen reports under TCG (no
# vme): the minimal model of bench/realxen-vs-libxl is added in dom0's
# overlay only.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tools/xen-testhost.d/scenario-lib.sh"

DEBROOT=${DEBROOT:-$TOP/.cache/bench-libxl/root}
DEBMOD=$DEBROOT/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_libxl.so
NAME=xth-parity
UUID=6b1a3c52-16a1-4e0e-9c1d-0000000016a1
OUT=/tmp/parity

step "host: a bridge, a disk image; Debian's module and its CPU model"
make_bridge
make_disk /tmp/disk1.img
if [ ! -f "$DEBMOD" ]; then
    echo "no Debian libxl module at $DEBMOD: run bench/realxen-vs-libxl once (it fetches it)"
    check debian-module false
    finish
fi
cpumap=/usr/share/libvirt/cpu_map
cat > $cpumap/x86_xth-fpu.xml <<'XML'
<cpus>
  <model name='xth-fpu'>
    <decode host='on' guest='on'/>
    <feature name='fpu'/>
  </model>
</cpus>
XML
sed -i "s|<include filename='x86_486.xml'/>|&\n    <include filename='x86_xth-fpu.xml'/>|" $cpumap/index.xml
# A build directory holding only Debian's module, as libvirtd-private
# expects one.
mkdir -p /tmp/debdrv/src/libxl
ln -sf "$DEBMOD" /tmp/debdrv/src/libxl/libvirt_driver_libxl.so
mkdir -p $OUT

# The test guest with a fixed identity, so the dumpxml diff shows what the
# drivers make of it, not who it is.
pv_guest_xml $NAME 00:16:3e:00:16:a1 |
    sed "s|<name>$NAME</name>|&\n  <uuid>$UUID</uuid>|" > /tmp/$NAME.xml

# One driver: STACK (ours|deb) BUILD
facts() {
    stack=$1
    step "$stack: capabilities, domcapabilities, the running guest's dumpxml"
    if ! libvirtd_private start "/tmp/lvd-$stack" "$2" > /tmp/uri-$stack; then
        check "$stack-libvirtd" false
        tail -20 "/tmp/lvd-$stack/libvirtd.log"
        return 1
    fi
    uri=$(tail -1 /tmp/uri-$stack)
    V() { timeout 300 virsh -c "$uri" "$@"; }
    check "$stack-capabilities" sh -c "timeout 300 virsh -c '$uri' capabilities > $OUT/$stack-capabilities.xml"
    check "$stack-domcapabilities" sh -c "timeout 300 virsh -c '$uri' domcapabilities > $OUT/$stack-domcapabilities.xml"
    V nodeinfo > $OUT/$stack-nodeinfo.txt 2>&1
    check "$stack-define" V define /tmp/$NAME.xml
    b=$(boots $NAME)
    if V start $NAME; then
        echo "CHECK $stack-start ok"
        check_guest_alive "$(V domid $NAME)" $NAME "$stack-boot" "$b"
        V dumpxml $NAME > $OUT/$stack-dumpxml.xml
        V dumpxml --inactive $NAME > $OUT/$stack-dumpxml-inactive.xml
        V schedinfo $NAME > $OUT/$stack-schedinfo.txt 2>&1
        V destroy $NAME
    else
        echo "CHECK $stack-start FAIL"
        failed=1
        tail -20 "/tmp/lvd-$stack/libvirtd.log"
    fi
    V undefine $NAME
    for f in $OUT/$stack-*; do
        echo "--- $f"
        cat "$f"
    done
    libvirtd_private stop "/tmp/lvd-$stack"
}

facts ours "$BUILD"
facts deb /tmp/debdrv

step "differences (diff -u Debian's ours)"
for f in capabilities domcapabilities nodeinfo dumpxml dumpxml-inactive schedinfo; do
    ext=xml
    case $f in nodeinfo|schedinfo) ext=txt ;; esac
    echo "=== diff $f"
    diff -u $OUT/deb-$f.$ext $OUT/ours-$f.$ext && echo "(identical)"
done
finish
