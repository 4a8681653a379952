#!/bin/sh
# libxlite's "xen" backend on real Xen, through the xlite command line.
# Runs in dom0 under tools/xen-testhost (tests/realxen/test_xen_backend.py):
#   tools/xen-testhost run --timeout 900 -- sh tools/xen-testhost.d/scenario-xlite.sh
# Needs a build (tools/run build).  Prints what it does, and one line per
# check, "CHECK <name> ok" or "CHECK <name> FAIL <why>"; exits 1 if any
# check failed.
#
# The scenario: the PV test guest (domu.cpio: tools/xen-testhost.d/domu-init)
# with a disk from a file and a NIC on a bridge made here is created; it
# boots to its marker, writes into its xenstore home and ticks on its
# console; its devices are up; its stored config comes back; `xlite
# shutdown` powers it off (the guest's own Linux acts on control/shutdown)
# and its death is reported with its domid; nothing of it is left.  A
# second guest is destroyed outright, with the same checks.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tools/xen-testhost.d/scenario-lib.sh"

# The core's own timeouts (libxl's: 10 s for a backend, 40 s for a
# hotplug script) must hold here, under TCG, unchanged.
X="$BUILD/tools/xlite --state-dir /tmp/xlite --backend xen"

step "host: a bridge for the guests' NICs, a disk image"
make_bridge
make_disk /tmp/disk0.img

write_config() {   # NAME
    cat > "/tmp/$1.json" <<JSON
{"name": "$1", "type": "pv",
 "kernel": "$IMAGES/vmlinuz", "ramdisk": "$IMAGES/domu.cpio",
 "cmdline": "console=hvc0 loglevel=3",
 "max_memkb": 131072, "target_memkb": 131072, "max_vcpus": 1,
 "disks": [{"vdev": "xvda", "target": "/tmp/disk0.img", "backend": "phy"}],
 "nics": [{"bridge": "xenbr0", "mac": "00:16:3e:00:00:01"}]}
JSON
}

step "create and start xth-one"
write_config xth-one
b=$(boots xth-one)
t0=$(up)
domid=$($X create /tmp/xth-one.json)
rc=$?
echo "create rc=$rc domid=$domid in $(since "$t0") s"
check create [ "$rc" = 0 ] && [ -n "$domid" ]
[ "$rc" = 0 ] || { xl list; finish; }
$X list
xl list

step "the guest boots to its marker, writes its xenstore home, uses its devices"
check_guest_alive "$domid" xth-one xth-one "$b"
tty=$($X console "$domid")
echo "console pty: $tty"
check console-pty-read expect_on_pty "$tty" XTH-DOMU-TICK 20
check_devices "$domid"

step "its stored config"
$X config "$domid" > /tmp/config.json
cat /tmp/config.json
check config-name grep -q '"name" : "xth-one"' /tmp/config.json
check config-disk grep -q '"target" : "/tmp/disk0.img"' /tmp/config.json
check config-nic grep -q '"mac" : "00:16:3e:00:00:01"' /tmp/config.json
$X info "$domid" | tee /tmp/info
# Xen 4.17 runs credit2; a new domain has its default weight.
check info-sched grep -q "sched:      weight 256 cap 0" /tmp/info

step "shutdown: the guest powers off, its death is reported"
uuid=$(xenstore-read "/local/domain/$domid/vm" | sed 's,^/vm/,,')
t0=$(up)
$X shutdown "$domid" 120 > /tmp/events 2>&1
rc=$?
cat /tmp/events
echo "shutdown rc=$rc in $(since "$t0") s"
check shutdown [ "$rc" = 0 ]
check shutdown-event grep -qx "event shutdown $domid poweroff" /tmp/events
check death-event grep -qx "event death $domid" /tmp/events
check guest-powered-off grep -q XTH-DOMU-POWEROFF "$(guest_log xth-one)"
check_gone "$domid" "$uuid" xth-one

step "a second guest, destroyed"
sed 's/xth-one/xth-two/; s/00:00:01/00:00:02/' /tmp/xth-one.json > /tmp/xth-two.json
b=$(boots xth-two)
domid2=$($X create /tmp/xth-two.json)
check create-second [ -n "$domid2" ] && [ "$domid2" != "$domid" ]
if [ -n "$domid2" ]; then
    check_guest_alive "$domid2" xth-two xth-two "$b"
    uuid=$(xenstore-read "/local/domain/$domid2/vm" | sed 's,^/vm/,,')
    t0=$(up)
    $X destroy "$domid2" > /tmp/events 2>&1
    rc=$?
    cat /tmp/events
    echo "destroy rc=$rc in $(since "$t0") s"
    check destroy [ "$rc" = 0 ]
    check destroy-death-event grep -qx "event death $domid2" /tmp/events
    check_gone "$domid2" "$uuid" xth-two
    check_nothing_left "$domid2" /tmp/disk0.img xth-two
fi
finish
