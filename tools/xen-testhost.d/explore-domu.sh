#!/bin/sh
# Exploration, run in dom0 by: tools/xen-testhost run -- sh tools/xen-testhost.d/explore-domu.sh
# Boots a tiny PV domU (the same Debian kernel + a busybox initramfs that
# prints a marker on hvc0) with the host's own `xl create`, and shows its
# console log as written by xenconsoled.
img=${XTH_IMAGES:-$(cd "$(dirname "$0")/../.." && pwd)/.cache/xen-testhost/images}
cat > /tmp/domu.cfg <<CFG
name = "xth-domu"
type = "pv"
kernel = "$img/vmlinuz"
ramdisk = "$img/domu.cpio"
extra = "console=hvc0 loglevel=3"
memory = 128
vcpus = 1
on_poweroff = "destroy"
on_crash = "preserve"
CFG
t0=$(cut -d' ' -f1 /proc/uptime)
xl create /tmp/domu.cfg || exit 1
xl list
i=0
while xl list xth-domu >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 1200 ] && { echo "domU still running after 120 s"; xl list; break; }
    sleep 0.1
done
t1=$(cut -d' ' -f1 /proc/uptime)
echo "domU lived from $t0 to $t1 (dom0 uptime)"
log=/var/log/xen/console/guest-xth-domu.log
ls -la /var/log/xen/console/
if grep -q XTH-DOMU-ALIVE "$log" 2>/dev/null; then
    grep XTH-DOMU-ALIVE "$log"; echo "DOMU-OK"; exit 0
fi
echo "--- $log"; tail -40 "$log" 2>/dev/null
echo "--- xl dmesg (tail)"; xl dmesg | tail -20
exit 1
