#!/bin/sh
# Exploration (the second half of "Real Xen", not a test): libxlite's "xen"
# backend and the Xenvirt plugin on a real dom0.  Needs a build (tools/run
# build).  Run from the checkout:
#   tools/xen-testhost run --timeout 600 -- sh tools/xen-testhost.d/explore-xlite-xen.sh
# Prints what each step did; exits 0 whatever the findings.
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$top/build}
img=$top/.cache/xen-testhost/images
X="$build/tools/xlite --state-dir /tmp/xlite --backend xen"
step() { echo; echo "=== $*"; }
up() { cut -d' ' -f1 /proc/uptime; }

step "xlite --backend xen list (dom0 is never listed)"
$X list; echo "rc=$?"

step "xl create -p (paused) a tiny PV domU; xlite sees it?"
cat > /tmp/domu.cfg <<CFG
name = "xth-domu"
type = "pv"
kernel = "$img/vmlinuz"
ramdisk = "$img/domu.cpio"
extra = "console=hvc0 loglevel=3"
memory = 128
on_poweroff = "destroy"
CFG
xl create -p /tmp/domu.cfg; echo "xl create rc=$?"
xl list
$X list; echo "rc=$?"
d=$(xl domid xth-domu 2>/dev/null)
step "xlite info $d; xlite destroy $d (a domain xl made)"
$X info "$d"; echo "info rc=$?"
t0=$(up); $X destroy "$d"; echo "destroy rc=$? ($t0 -> $(up))"
sleep 1; xl list; xenstore-ls /local/domain 2>/dev/null | grep -c . | sed 's/^/xenstore nodes under \/local\/domain: /'

step "destroy timing: xl destroy vs xlite destroy of the same kind of paused domain"
sed 's/xth-domu/xth-a/' /tmp/domu.cfg > /tmp/a.cfg; sed 's/xth-domu/xth-b/' /tmp/domu.cfg > /tmp/b.cfg
xl create -p /tmp/a.cfg >/dev/null 2>&1; xl create -p /tmp/b.cfg >/dev/null 2>&1
xl list
echo "backends: $(xenstore-ls -f /local/domain/0/backend 2>/dev/null | grep -c .) nodes"
xenstore-ls -f /local/domain/0/backend 2>/dev/null | grep '/state = ' | head
t0=$(up); xl destroy xth-a; echo "xl destroy rc=$? ($t0 -> $(up))"
t0=$(up); $X destroy "$(xl domid xth-b)"; echo "xlite destroy rc=$? ($t0 -> $(up))"
xl list

step "xlite create a PV domain from JSON (build is not implemented: expect ENOSYS, undone)"
cat > /tmp/xlite-domu.json <<JSON
{"name": "xlite-domu", "type": "pv", "kernel": "$img/vmlinuz",
 "ramdisk": "$img/domu.cpio", "cmdline": "console=hvc0",
 "max_memkb": 131072, "target_memkb": 131072, "max_vcpus": 1}
JSON
$X create /tmp/xlite-domu.json; echo "create rc=$?"
xl list; $X list
echo "--- /local/domain and /vm after the failed create:"
xenstore-ls /local/domain | grep -v '^ ' ; xenstore-ls /vm 2>/dev/null | grep -v '^ '
ls -la /tmp/xlite/userdata 2>/dev/null

step "libvirtd-private (stock libvirtd 9.0.0 + the Xenvirt plugin) in dom0"
if "$top/tools/libvirtd-private" start /tmp/lvd "$build" > /tmp/lvd.uri; then
    uri=$(tail -1 /tmp/lvd.uri); echo "uri $uri"
    for c in "version" "nodeinfo" "list --all" "capabilities"; do
        echo "--- virsh $c"; timeout 120 virsh -c "$uri" $c 2>&1 | head -25
    done
    grep -i 'xenvirt\|error' /tmp/lvd/libvirtd.log | head -10
    "$top/tools/libvirtd-private" stop /tmp/lvd
else
    echo "libvirtd-private failed to start"; tail -20 /tmp/lvd/libvirtd.log
fi
exit 0
