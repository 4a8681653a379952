#!/bin/sh
# The Xenvirt driver on real Xen, through virsh and python-libvirt.  Runs in
# dom0 under tools/xen-testhost (tests/realxen/test_xen_backend.py):
#   tools/xen-testhost run --timeout 900 -- sh tools/xen-testhost.d/scenario-virsh.sh
# Needs a build (tools/run build).  Prints what it does and one line per
# check ("CHECK <name> ok|FAIL"); exits 1 if any check failed.
#
# Stock libvirtd runs in dom0 with only our plugin (tools/libvirtd-private);
# the plugin picks the xen backend itself (/proc/xen/capabilities says
# control_d).  The PV test guest, with a disk from a file and a NIC on a
# bridge, is defined, started, shown (dumpxml with its live devices), read
# on its console through libvirt's stream, shut down, started again,
# destroyed and undefined, while `virsh event` records the lifecycle.
# Hotplug is scenario-hotplug.sh's (a boot of its own).
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tools/xen-testhost.d/scenario-lib.sh"

# The core's own timeouts (libxl's: 10 s for a backend, 40 s for a
# hotplug script) must hold here, under TCG, unchanged.
NAME=xth-virsh
# The driver's (libvirtd-private's root, as an embedded root is laid out).
XLITE_STATE=/tmp/lvd/root/var/lib/xenvirt

step "host: a bridge, a disk image; libvirtd with the Xenvirt plugin"
make_bridge
make_disk /tmp/disk1.img
t0=$(up)
if ! libvirtd_private start /tmp/lvd "$BUILD" > /tmp/lvd.uri; then
    check libvirtd-start false
    tail -20 /tmp/lvd/libvirtd.log
    finish
fi
URI=$(tail -1 /tmp/lvd.uri)
echo "libvirtd up in $(since "$t0") s: $URI"
V() { timeout 300 virsh -c "$URI" "$@"; }
V version
grep -a "Xenvirt driver initialised" /tmp/lvd/libvirtd.log | tail -1
check xen-backend grep -aq "Xenvirt driver initialised.*xen backend" /tmp/lvd/libvirtd.log

# Not through V: its 300 s bound would end the recorder halfway through a
# slow run (under a loaded host the scenario takes longer), and every
# event after that would look lost.
timeout 1200 virsh -c "$URI" event --all --loop --timeout 1100 \
    > /tmp/virsh-events 2>&1 &
evpid=$!
sleep 2

pv_guest_xml $NAME 00:16:3e:00:00:03 > /tmp/$NAME.xml

step "define and start"
check define V define /tmp/$NAME.xml
b=$(boots $NAME)
t0=$(up)
check start V start $NAME
echo "started in $(since "$t0") s"
if ! kill -0 "$(cat /tmp/lvd/libvirtd.pid 2>/dev/null)" 2>/dev/null; then
    echo "--- libvirtd is gone; its log (tail) and the kernel's word:"
    grep -av " info : \| debug : " /tmp/lvd/libvirtd.log | tail -30
    dmesg | grep -i "segfault\|libvirtd\|general protection" | tail -5
fi
V list --all
domid=$(V domid $NAME | head -1)
echo "domid $domid"
xl list

step "the guest runs: marker, xenstore, devices"
check_guest_alive "$domid" $NAME $NAME "$b"
check_devices "$domid"

step "virsh dumpxml: the live devices"
V dumpxml $NAME > /tmp/live.xml
sed -n '/<devices>/,/<\/devices>/p' /tmp/live.xml
check dumpxml-id grep -q "<domain type='xen' id='$domid'" /tmp/live.xml
check dumpxml-console-pty grep -q "<source path='/dev/pts/" /tmp/live.xml
check dumpxml-disk grep -q "<source file='/tmp/disk1.img'" /tmp/live.xml
check dumpxml-nic-bridge grep -q "<source bridge='xenbr0'" /tmp/live.xml
check dumpxml-nic-mac grep -q "<mac address='00:16:3e:00:00:03'" /tmp/live.xml

step "scheduler parameters (Xen 4.17's credit2)"
V schedinfo $NAME | tee /tmp/sched
check schedinfo-weight grep -q "^weight *: 256" /tmp/sched
check schedinfo-credit2 grep -q "^Scheduler *: credit2" /tmp/sched
V schedinfo $NAME --live --set weight=512 cap=50 | tee /tmp/sched
check schedinfo-set grep -q "^weight *: 512" /tmp/sched
check schedinfo-read-back sh -c "timeout 60 virsh -c '$URI' schedinfo $NAME | grep -q '^cap *: 50'"

step "monitoring: Xen's figures through domstats and the per-device calls"
V domstats $NAME > /tmp/stats1
sleep 3
V domstats $NAME > /tmp/stats2
cat /tmp/stats2
stat() { sed -n "s/^ *$2=//p" "$1" | head -1; }
grows() { awk -v a="$(stat /tmp/stats1 "$1")" -v b="$(stat /tmp/stats2 "$1")" \
    'BEGIN { exit !(a > 0 && b > a) }'; }
check stats-cpu-time-grows grows cpu.time
check stats-vcpu-time-grows grows vcpu.0.time
check stats-balloon [ "$(stat /tmp/stats2 balloon.current)" = 131072 ]
check stats-block [ "$(stat /tmp/stats2 block.0.name)" = xvda ]
check stats-block-counters [ -n "$(stat /tmp/stats2 block.0.rd.reqs)" ]
check stats-net [ "$(stat /tmp/stats2 net.0.name)" = "vif$domid.0" ]
check stats-net-counters [ -n "$(stat /tmp/stats2 net.0.tx.bytes)" ]
check domblkstat V domblkstat $NAME xvda
check domifstat V domifstat $NAME "vif$domid.0"
check dommemstat sh -c "timeout 60 virsh -c '$URI' dommemstat $NAME | grep -q '^actual 131072'"
check nodecpustats V nodecpustats
check nodememstats V nodememstats

step "the console through libvirt (what virsh console shows)"
/usr/bin/python3 - "$URI" $NAME > /tmp/console.out 2>&1 <<'PY'
import sys, time
import libvirt

libvirt.virEventRegisterDefaultImpl()
conn = libvirt.open(sys.argv[1])
stream = conn.newStream(0)
conn.lookupByName(sys.argv[2]).openConsole(None, stream, 0)
out, deadline = b"", time.time() + 30
while b"XTH-DOMU-TICK" not in out and time.time() < deadline:
    data = stream.recv(4096)
    if isinstance(data, bytes):
        out += data
    else:
        time.sleep(0.1)
stream.finish()
print(out.decode(errors="replace")[-300:])
PY
cat /tmp/console.out
check console-stream grep -q XTH-DOMU-TICK /tmp/console.out

step "virsh shutdown: the guest powers off, libvirt sees it stop"
uuid=$(V domuuid $NAME | head -1)
poweroffs=$(grep -ac XTH-DOMU-POWEROFF "$(guest_log $NAME)")
t0=$(up)
check shutdown V shutdown $NAME
check shut-off wait_for 180 sh -c "[ \"\$(timeout 60 virsh -q -c '$URI' domstate $NAME)\" = 'shut off' ]"
echo "shut off after $(since "$t0") s"
if [ "$(timeout 60 virsh -q -c "$URI" domstate $NAME)" != "shut off" ]; then
    # Once in CI the guest printed its poweroff and Xen never saw it shut
    # down: what the guest and Xen say then.
    echo "--- not shut off: the guest's console (tail), Xen's view of it"
    tail -c 1500 "$(guest_log $NAME)"; echo
    xl list -v 2>&1 | tail -3
    xl debug-keys q > /dev/null 2>&1 && xl dmesg 2>/dev/null | tail -25
fi
check guest-powered-off [ "$(grep -ac XTH-DOMU-POWEROFF "$(guest_log $NAME)")" -gt "$poweroffs" ]
check_gone "$domid" "$uuid" $NAME-shutdown

step "start again, with virsh list meanwhile (a start blocks no query)"
# Idle first: each virsh call is a process and a connection, slow here.
for i in 1 2 3; do
    t0=$(up); V list > /dev/null; echo "$(since "$t0")"
done | sort -n | sed -n 2p > /tmp/list-idle
b=$(boots $NAME)
V start $NAME > /tmp/start.out 2>&1 &
startpid=$!
sleep 2
t0=$(up); V list; list_busy=$(since "$t0")
kill -0 $startpid 2>/dev/null && during="during" || during="after"
wait $startpid
startrc=$?
cat /tmp/start.out
echo "virsh list: $(cat /tmp/list-idle) s idle, $list_busy s $during the start"
check restart [ "$startrc" = 0 ]
# Twice the idle time, and 2 s for the noise of an emulated host (it was
# 5 to 10 s behind a start).
check list-during-start awk -v i="$(cat /tmp/list-idle)" -v b="$list_busy" \
    'BEGIN { m = 2 * i; if (i + 2 > m) m = i + 2; exit !(b <= m) }'
domid=$(V domid $NAME | head -1)
check_guest_alive "$domid" $NAME $NAME-2 "$b"

step "virsh destroy: as fast as xl's, nothing left"
logfrom=$(($(wc -l < /tmp/lvd/libvirtd.log) + 1))
echo "virsh destroy begins at $(up) s of uptime ($(date -u +%T.%N | cut -c1-12))"
t0=$(up)
check destroy V destroy $NAME
ours=$(since "$t0")
echo "virsh destroy: $ours s; the driver's and the core's log meanwhile:"
tail -n +"$logfrom" /tmp/lvd/libvirtd.log | grep -a " : xlite: \| : xv[A-Z][A-Za-z]*:[0-9]* : \| : virDomainDestroy[A-Za-z]*:[0-9]* : \| : virConnectOpen:[0-9]* : \| : virDomainLookupByName:[0-9]* : \| : virConnectClose:[0-9]* : " |
    grep -av "unknown watch token" | tail -40 | cut -c1-200
V domstate $NAME
check_gone "$domid" "$uuid" $NAME-destroy
check_nothing_left "$domid" /tmp/disk1.img $NAME-destroy

# xl on the same guest (its own domain, the same disk and bridge).
b=$(boots xth-xl)
xdomid=$(xl_guest xth-xl /tmp/disk1.img 00:16:3e:00:00:09)
if [ -z "$xdomid" ]; then
    # xl itself died once here (a segfault in xl create): once more.
    xl destroy xth-xl > /dev/null 2>&1
    xdomid=$(xl_guest xth-xl /tmp/disk1.img 00:16:3e:00:00:09)
fi
if [ -n "$xdomid" ]; then
    check_guest_alive "$xdomid" xth-xl xth-xl "$b"
    t0=$(up)
    xl destroy "$xdomid"
    theirs=$(since "$t0")
    echo "destroy: ours $ours s, xl's $theirs s"
    check destroy-within-2x-xl ratio_within "$ours" "$theirs" 2
    echo "after xl destroy: losetup: $(losetup -a | tr '\n' ' ')" \
         "bridge ports: $(ls /sys/class/net/xenbr0/brif | tr '\n' ' ')"
else
    check xl-create false
fi

step "undefine; the lifecycle events"
check undefine V undefine $NAME
sleep 2
kill -0 $evpid 2>/dev/null || echo "virsh event (pid $evpid) is gone before its end"
kill $evpid 2>/dev/null
wait $evpid 2>/dev/null
cat /tmp/virsh-events
ev() { grep -q "event 'lifecycle' for domain '$NAME': $1" /tmp/virsh-events; }
check event-defined ev "Defined Added"
check event-started ev "Started Booted"
check event-stopped-shutdown ev "Stopped Shutdown"
check event-stopped-destroyed ev "Stopped Destroyed"
check event-undefined ev "Undefined Removed"

libvirtd_private stop /tmp/lvd
grep -a " error : " /tmp/lvd/libvirtd.log | tail -10
finish
