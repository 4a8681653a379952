# Shared by the real-Xen scenarios (scenario-*.sh), sourced in dom0 under
# tools/xen-testhost.  Sets TOP, BUILD, IMAGES; every check prints
# "CHECK <name> ok" or "CHECK <name> FAIL"; finish exits 1 if any failed.
TOP=${top:?}
BUILD=${BUILD_DIR:-$TOP/build}
IMAGES=$TOP/.cache/xen-testhost/images
failed=0
# libxlite's state directory (stored configs in userdata/).
XLITE_STATE=/tmp/xlite

# A process of dom0 that crashes leaves its core here; finish prints the
# crashing thread's backtrace (gdb, with the build's symbols), so a crash
# seen once in CI is diagnosed from that run's output.
CORES=/tmp/cores
mkdir -p "$CORES"
ulimit -c unlimited 2>/dev/null
# (%E: the executable's path with / as !, whatever a thread is named.)
echo "$CORES/core.%E.%p" > /proc/sys/kernel/core_pattern 2>/dev/null

# The libraries every process of the scenario maps, summed at the start:
# finish sums them again (a change is memory changed under dom0's
# processes, not a bug of theirs).
PAGECACHE_LIBS="/lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/libglib-2.0.so.0 /usr/lib/x86_64-linux-gnu/libvirt.so.0 /usr/lib/x86_64-linux-gnu/libxenstore.so.4 /usr/sbin/libvirtd /usr/bin/virsh /bin/dash"
md5sum $PAGECACHE_LIBS > /tmp/pagecache.md5 2>/dev/null

# ASAN=1, with BUILD_DIR an AddressSanitizer build (tools/run's
# build-asan): libvirtd runs with the sanitizer runtime preloaded (and
# libtirpc, whose xdr_* ASan intercepts), its reports go to
# /tmp/asan-reports, and finish prints them and fails the run.
ASAN_REPORTS=/tmp/asan-reports
# Xen's hotplug scripts, libvirtd's children, run without the runtime: in
# each of their many short processes it costs so much under TCG that the
# block script overran its 40 s (dom0's root is an overlay: the wrappers
# vanish with the boot).  So do the programs libvirt's network driver
# runs (dnsmasq, iptables: tests/sanitizers/uninstrumented, as in the
# sanitizer stage): preloaded, dnsmasq never answered `--version`, the
# network driver's start waited for ever, and with it every virsh call.
libvirtd_private() {   # start DIR BUILD | stop DIR
    if [ "${ASAN:-0}" = 1 ] && [ "$1" = start ]; then
        mkdir -p "$ASAN_REPORTS"
        for s in block vif-bridge; do
            [ -e "/etc/xen/scripts/$s.real" ] && continue
            mv "/etc/xen/scripts/$s" "/etc/xen/scripts/$s.real"
            printf '#!/bin/sh\nunset LD_PRELOAD ASAN_OPTIONS\nexec /etc/xen/scripts/%s.real "$@"\n' \
                "$s" > "/etc/xen/scripts/$s"
            chmod 755 "/etc/xen/scripts/$s"
        done
        PATH="$TOP/tests/sanitizers/uninstrumented:$PATH" \
            LD_PRELOAD="$(gcc -print-file-name=libasan.so) /lib/x86_64-linux-gnu/libtirpc.so.3" \
            ASAN_OPTIONS="abort_on_error=1:halt_on_error=1:detect_leaks=0:verify_asan_link_order=0:suppressions=$TOP/tests/sanitizers/asan.supp:log_path=$ASAN_REPORTS/asan" \
            "$TOP/tools/libvirtd-private" "$@"
    else
        "$TOP/tools/libvirtd-private" "$@"
    fi
}

step() { echo; echo "=== $*"; }
up() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }'; }

# A failed check after the host itself failed (a program not under test
# crashed, or the libraries' pages changed: docs/xen-testhost.md) says
# nothing of the driver, and every later step would wait out its own
# timeout on a broken dom0: the scenario stops there, and finish says why.
check() {   # NAME COMMAND...
    name=$1
    shift
    if "$@"; then
        echo "CHECK $name ok"
    else
        echo "CHECK $name FAIL"
        failed=1
        if host_failed; then
            echo "(the test host failed under the scenario: it stops here)"
            finish
        fi
    fi
}

# The executable that left core file $1 (core.<path with ! for />.<pid>).
core_exe() {
    basename "$1" | sed 's/^core\.//; s/\.[0-9]*$//' | tr '!' '/'
}

under_test() {   # PROGRAM
    case " ${OURS:-libvirtd xlite} " in
    *" $1 "*) return 0 ;;
    *) return 1 ;;
    esac
}

host_failed() {
    for core in "$CORES"/core.*; do
        [ -e "$core" ] || continue
        under_test "$(basename "$(core_exe "$core")")" || return 0
    done
    ! md5sum -c --quiet /tmp/pagecache.md5 > /dev/null 2>&1
}

finish() {
    step "summary"
    # Any process of dom0 that crashed on the way, whatever the outcome.
    dmesg | grep -i "segfault\|general protection\|traps:" | tail -10
    for core in "$CORES"/core.*; do
        [ -e "$core" ] && failed=1
    done
    for report in "$ASAN_REPORTS"/asan.*; do
        [ -e "$report" ] || continue
        failed=1
        echo "--- $report"
        cat "$report"
    done
    if [ "$failed" = 0 ]; then
        echo "SCENARIO OK"
    else
        echo "SCENARIO FAILED"
        echo "--- xl dmesg (tail)"; xl dmesg 2>/dev/null | tail -15
        echo "--- xen-hotplug.log (tail)"
        tail -30 /var/log/xen/xen-hotplug.log 2>/dev/null
    fi
    # The test host's own faults: memory changed under dom0's processes.
    # A crash of a program that is not under test (OURS), or changed
    # library pages, is the environment's (docs/xen-testhost.md).
    if ! md5sum -c --quiet /tmp/pagecache.md5 2>&1; then
        echo "ENVIRONMENT FAULT: dom0's page cache of the libraries changed"
    fi
    # The test guests run no code of ours (domu-init, busybox, Debian's
    # kernel): a crash inside one is memory going wrong under it too.
    # It happens often here (a segfaulting ls in the guest's tick loop);
    # it only explains a run whose checks failed.
    for log in /var/log/xen/console/guest-*.log; do
        [ -e "$log" ] || continue
        crash=$(grep -a -m1 "Segmentation fault\|segfault at\|general protection\|Kernel panic\|BUG: \|Oops" "$log" | tr -d '\r')
        [ -n "$crash" ] || continue
        guest=$(basename "$log" .log | sed 's/^guest-//')
        if [ "$failed" = 0 ]; then
            echo "NOTE: test guest $guest crashed inside ($crash); every check passed"
        else
            echo "ENVIRONMENT FAULT: test guest $guest crashed inside: $crash"
        fi
    done
    for core in "$CORES"/core.*; do
        [ -e "$core" ] || continue
        prog=$(basename "$(core_exe "$core")")
        if under_test "$prog"; then
            echo "CRASH UNDER TEST: $prog"
        else
            echo "ENVIRONMENT FAULT: $prog crashed in dom0 (not a program under test)"
        fi
    done
    # Last, so the test's excerpt of the output (its tail) holds it.
    for core in "$CORES"/core.*; do
        [ -e "$core" ] || continue
        echo "--- $core: the crashing thread"
        command -v gdb >/dev/null || { echo "(no gdb)"; continue; }
        gdb -batch -nx -ex "bt 25" "$(core_exe "$core")" "$core" > /tmp/bt 2>&1
        grep "^#" /tmp/bt | cut -c1-220
        # gdb itself crashed once here (on a core of memory gone wrong):
        # elfutils' unwinder then.
        if ! grep -q "^#" /tmp/bt && command -v eu-stack >/dev/null; then
            echo "(gdb gave no stack: eu-stack)"
            eu-stack -s -m -n 25 -e "$(core_exe "$core")" --core="$core" 2>&1 |
                head -40 | cut -c1-220
        fi
        # A crash in malloc's checks: the chunk it found broken, and the
        # start of its page.  A small overrun shows as a few bad words
        # after good ones; memory changed under the process (the test
        # host's fault) as a whole page of unrelated content.
        gdb -batch -nx -ex "frame function unlink_chunk" \
            -ex 'echo chunk:\n' -ex 'x/24gx (char *)p - 64' \
            -ex 'echo page:\n' -ex 'x/16gx (long)p & ~4095L' \
            "$(core_exe "$core")" "$core" 2>/dev/null |
            grep -A40 '^chunk:' | cut -c1-120
    done
    exit "$failed"
}

# Polls COMMAND... every half second for up to SECONDS, by the clock
# (under TCG each poll itself takes a while: counting them is no bound).
wait_for() {   # SECONDS COMMAND...
    end=$(($(cut -d. -f1 /proc/uptime) + $1))
    shift
    while :; do
        "$@" && return 0
        [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ] || return 1
        sleep 0.5
    done
}

make_bridge() {
    ip link add xenbr0 type bridge && ip link set xenbr0 up
    ip -br link show xenbr0
}

make_disk() {   # PATH
    dd if=/dev/zero of="$1" bs=1M count=0 seek=64 2>/dev/null
    ls -la "$1"
}

guest_log() { echo "/var/log/xen/console/guest-$1.log"; }

# The domain XML of the PV test guest NAME: 128 MiB, one vcpu, the disk
# /tmp/disk1.img as xvda, a NIC with MAC on xenbr0, a pty console.
pv_guest_xml() {   # NAME MAC
    cat <<XML
<domain type='xen'>
  <name>$1</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>linux</type>
    <kernel>$IMAGES/vmlinuz</kernel>
    <initrd>$IMAGES/domu.cpio</initrd>
    <cmdline>console=hvc0 loglevel=3</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='phy'/>
      <source file='/tmp/disk1.img'/>
      <target dev='xvda' bus='xen'/>
    </disk>
    <interface type='bridge'>
      <mac address='$2'/>
      <source bridge='xenbr0'/>
    </interface>
    <console type='pty'>
      <target type='xen' port='0'/>
    </console>
  </devices>
</domain>
XML
}

xs_is() {   # PATH VALUE
    [ "$(xenstore-read "$1" 2>/dev/null)" = "$2" ]
}

# The number of boots a guest's console log has seen so far.
boots() {   # NAME
    n=$(grep -ac XTH-DOMU-ALIVE "$(guest_log "$1")" 2>/dev/null)
    echo "${n:-0}"
}

# The test guest (domu-init) boots to its marker and writes its home.
# xenconsoled appends a guest's console to its log across boots: a new
# boot is told by the number of markers, BEFORE (boots NAME) counted
# before the start (a guest may boot before this is called).
check_guest_alive() {   # DOMID NAME LABEL BEFORE
    log=$(guest_log "$2")
    label=$3
    before=$4
    t0=$(up)
    check "$label-marker" wait_for 180 \
        sh -c "[ \$(grep -ac XTH-DOMU-ALIVE '$log' 2>/dev/null || true) -gt ${before:-0} ]"
    echo "marker after $(since "$t0") s: $(grep -a XTH-DOMU-ALIVE "$log" | tail -1)"
    grep -aq XTH-DOMU-ALIVE "$log" 2>/dev/null ||
        { echo "--- $log (tail)"; tail -c 3000 "$log"; echo; }
    check "$label-xenstore-write" wait_for 30 \
        xs_is "/local/domain/$1/data/xth-marker" alive
    check "$label-ticks" wait_for 30 grep -q XTH-DOMU-TICK "$log"
    grep -a XTH-DOMU-DEVICES "$log" | tail -1
}

# Reads the pty until PATTERN shows or SECONDS pass.
expect_on_pty() {   # PTY PATTERN SECONDS
    [ -c "$1" ] || { echo "no pty '$1'"; return 1; }
    timeout "$3" cat "$1" > /tmp/pty.out 2>&1
    head -c 300 /tmp/pty.out; echo
    grep -aq "$2" /tmp/pty.out
}

backend() { echo "/local/domain/0/backend/$1/$2/$3"; }

check_devices() {   # DOMID
    vbd=$(backend vbd "$1" 51712)
    vif=$(backend vif "$1" 0)
    xenstore-ls -f "$vbd" 2>/dev/null | grep -E '/(state|physical-device|hotplug-status|params|sectors) ='
    xenstore-ls -f "$vif" 2>/dev/null | grep -E '/(state|hotplug-status|bridge|mac) ='
    check disk-connected wait_for 30 xs_is "$vbd/state" 4
    check disk-physical-device xenstore-read "$vbd/physical-device"
    check nic-connected wait_for 30 xs_is "$vif/state" 4
    check nic-on-bridge [ -e "/sys/class/net/xenbr0/brif/vif$1.0" ]
    ls /sys/class/net/xenbr0/brif
}

# Nothing of the domain remains: not in the hypervisor's list, not in
# xenstore (its home, its /vm, its backends), not in the stored configs.
check_gone() {   # DOMID UUID NAME
    xl list
    check "$3-gone-hypervisor" sh -c "! xl list $1 >/dev/null 2>&1"
    check "$3-gone-home" sh -c "! xenstore-ls /local/domain | grep -q '^$1 = '"
    check "$3-gone-vm" sh -c "! xenstore-read /vm/$2 >/dev/null 2>&1"
    for k in vbd vif console; do
        check "$3-gone-backend-$k" sh -c "! xenstore-read /local/domain/0/backend/$k/$1 >/dev/null 2>&1"
    done
    check "$3-gone-stored-config" sh -c "! ls $XLITE_STATE/userdata 2>/dev/null | grep -q '^$1-'"
    echo "/local/domain now: $(xenstore-list /local/domain | tr '\n' ' ')"
}

# Nothing of a destroyed domain is left on the host: no loop device on
# its disk file, no vifs of its, no port of its on the bridge, no backend
# directory of any kind.
check_nothing_left() {   # DOMID DISK LABEL
    echo "losetup: $(losetup -a | tr '\n' ' ')"
    echo "links: $(ip -br link | awk '{print $1}' | tr '\n' ' ')"
    echo "bridge ports: $(ls /sys/class/net/xenbr0/brif | tr '\n' ' ')"
    check "$3-no-loop-device" sh -c "! losetup -a | grep -q '($2)'"
    check "$3-no-vif" sh -c "! ip -br link | grep -q '^vif$1\\.'"
    check "$3-no-bridge-port" sh -c "! ls /sys/class/net/xenbr0/brif | grep -q '^vif$1\\.'"
    check "$3-no-backend" sh -c "! xenstore-ls -f /local/domain/0/backend 2>/dev/null | grep -qE '^/local/domain/0/backend/[^/]+/$1( |/)'"
}

# The same guest as xl would run it (xl.cfg); prints the domid.
xl_guest() {   # NAME DISK MAC
    cat > "/tmp/$1.cfg" <<CFG
name="$1"
type="pv"
kernel="$IMAGES/vmlinuz"
ramdisk="$IMAGES/domu.cpio"
extra="console=hvc0 loglevel=3"
memory=128
vcpus=1
disk=['format=raw,vdev=xvda,access=rw,backendtype=phy,target=$2']
vif=['bridge=xenbr0,mac=$3']
CFG
    xl create "/tmp/$1.cfg" > "/tmp/$1.xl.log" 2>&1 && xl domid "$1" && return
    cat "/tmp/$1.xl.log" >&2
    return 1
}

# ratio_within A B MAX: A / B <= MAX (seconds, decimals allowed).
ratio_within() {
    awk -v a="$1" -v b="$2" -v m="$3" 'BEGIN { exit !(b > 0 && a / b <= m) }'
}
