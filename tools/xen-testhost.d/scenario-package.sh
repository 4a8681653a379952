#!/bin/sh
# The Debian package on a real dom0.  Runs in dom0 under tools/xen-testhost
# (tests/realxen/test_xen_backend.py), given the package tools/build-deb
# built on the host, in a directory dom0 reads through the 9p share:
#   tools/build-deb /tmp/xv-deb
#   tools/xen-testhost run --timeout 1500 -- \
#       "sh tools/xen-testhost.d/scenario-package.sh /tmp/xv-deb/xenvirt_0.1.0_amd64.deb"
# (or PACKAGE_DEB=... in the environment, as scenario-set.sh runs it: last
# in the shared boot, since it installs into dom0).
# Prints what it does and one line per check ("CHECK <name> ok|FAIL");
# exits 1 if any check failed.  Needs no build directory.
#
# What an administrator does on a dom0: `dpkg -i` the package, start
# Debian's libvirtd with its default configuration (no --config, no
# LIBVIRT_DRIVER_DIR, no environment: the system sockets, paths and log),
# and use plain xen:///system.  dom0's root is an overlay in its RAM, so
# all of it (the dpkg database, /etc, /var, /run) is dom0's alone and
# vanishes at power-off.  The daemon maps our module from libvirt's
# connection-driver directory beside the storage and network drivers; the
# PV test guest (one disk, one NIC, as scenario-virsh.sh's) is defined,
# started, seen running, destroyed and undefined; pool-list and net-list
# answer.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tools/xen-testhost.d/scenario-lib.sh"

DEB=${1:-${PACKAGE_DEB:?usage: scenario-package.sh DEB (or PACKAGE_DEB=DEB)}}
NAME=xth-pkg
# The installed driver's core state (docs/architecture.md: a privileged
# daemon's files).
XLITE_STATE=/var/lib/libvirt/xenvirt
LOG=/var/log/libvirt/libvirtd.log

step "dpkg -i $DEB"
ls -la "$DEB"
# The package conflicts with libvirt's own Xen driver: an administrator's
# `apt install ./xenvirt_*.deb` removes it; dpkg -i needs it gone first.
if [ "$(dpkg-query -W -f='${db:Status-Status}' libvirt-daemon-driver-xen \
        2>/dev/null)" = installed ]; then
    dpkg -r libvirt-daemon-driver-xen
fi
# man-db's trigger would re-index every manual page over 9p under TCG
# (minutes); its documented switch is this file (dom0's copy only).
rm -f /var/lib/man-db/auto-update
t0=$(up)
check dpkg-install dpkg -i "$DEB"
echo "installed in $(since "$t0") s"
dpkg-query -W xenvirt
# Where the package put the module: libvirt's connection-driver directory
# (the storage and network drivers' too, checked below).
MODULE=$(dpkg -L xenvirt | grep '/connection-driver/libvirt_driver_libxl\.so$')
echo "module: $MODULE"
check module-installed [ -f "$MODULE" ]

step "Debian's libvirtd, its default configuration"
# Where libvirt-daemon-system is installed (not here, nor on the host) the
# libvirt-qemu user and /var/log/libvirt exist: without the user libvirt's
# QEMU driver, and so the daemon, does not start (docs/packaging.md);
# without the directory the daemon cannot open its default log file.
mkdir -p /var/log/libvirt
getent group libvirt-qemu > /dev/null ||
    echo "libvirt-qemu:x:64055:" >> /etc/group
getent passwd libvirt-qemu > /dev/null ||
    echo "libvirt-qemu:x:64055:64055:libvirt QEMU:/var/lib/libvirt:/usr/sbin/nologin" >> /etc/passwd
t0=$(up)
env -i PATH="$PATH" HOME=/root LANG=C.UTF-8 /usr/sbin/libvirtd --daemon
V() { timeout 300 virsh -c xen:///system "$@"; }
check libvirtd-start wait_for 180 sh -c \
    '[ -S /run/libvirt/libvirt-sock ] && timeout 60 virsh -c xen:///system uri > /dev/null 2>&1'
echo "libvirtd up in $(since "$t0") s"
tail -5 "$LOG" 2>/dev/null
pid=$(cat /run/libvirtd.pid 2>/dev/null)
echo "libvirtd pid $pid; its drivers:"
grep -o "[^ ]*/connection-driver/[^ ]*" "/proc/$pid/maps" 2>/dev/null | sort -u
check module-mapped grep -q " $MODULE$" "/proc/$pid/maps"
check no-build-tree sh -c "! grep -q '$TOP' /proc/$pid/maps"
for d in storage network; do
    check "$d-driver-mapped" grep -q " $(dirname "$MODULE")/libvirt_driver_$d.so$" \
        "/proc/$pid/maps"
done

step "virsh -c xen:///system"
V version | tee /tmp/version
check version-api grep -q "^Using API: Xen " /tmp/version
check version-hypervisor grep -q "^Running hypervisor: Xen 4\.17" /tmp/version
check pool-list V pool-list --all
check net-list V net-list --all

step "the PV test guest: define, start, running, destroy, undefine"
make_bridge
make_disk /tmp/disk1.img
pv_guest_xml $NAME 00:16:3e:00:00:05 > /tmp/$NAME.xml
check define V define /tmp/$NAME.xml
check defined-system-path [ -f /etc/libvirt/xenvirt/$NAME.xml ]
b=$(boots $NAME)
t0=$(up)
check start V start $NAME
echo "started in $(since "$t0") s"
V list --all
check running sh -c "[ \"\$(timeout 60 virsh -q -c xen:///system domstate $NAME)\" = running ]"
domid=$(V domid $NAME | head -1)
uuid=$(V domuuid $NAME | head -1)
echo "domid $domid"
xl list
check_guest_alive "$domid" $NAME $NAME "$b"
check_devices "$domid"
t0=$(up)
check destroy V destroy $NAME
echo "destroyed in $(since "$t0") s"
check shut-off sh -c "[ \"\$(timeout 60 virsh -q -c xen:///system domstate $NAME)\" = 'shut off' ]"
check_gone "$domid" "$uuid" $NAME
check_nothing_left "$domid" /tmp/disk1.img $NAME
check undefine V undefine $NAME
check undefined sh -c "! timeout 60 virsh -c xen:///system dominfo $NAME > /dev/null 2>&1"

step "libvirtd's log (warnings and errors)"
kill "$pid" 2>/dev/null
grep -a " error : \| warning : " "$LOG" 2>/dev/null | tail -15 | cut -c1-220
finish
