#!/bin/sh
# Exploration, run in dom0 by:
#   tools/xen-testhost run --timeout 600 -- sh tools/xen-testhost.d/explore-libvirtd.sh
# Can this machine's stock libvirtd (Debian 12, 9.0.0) run in dom0?  The
# host's root is an overlay in dom0 (--root overlay, the default), so its
# state directories can be created; nothing reaches the host.
up() { cut -d' ' -f1 /proc/uptime | cut -d. -f1; }
mkdir -p /var/log/libvirt /var/lib/libvirt /var/cache/libvirt /run/libvirt
t0=$(up)
/usr/sbin/libvirtd >/tmp/libvirtd.out 2>&1 &
pid=$!
ok=
while [ $(( $(up) - t0 )) -lt ${XTH_WAIT:-240} ]; do
    kill -0 $pid 2>/dev/null || { echo "libvirtd exited"; break; }
    if timeout 20 virsh -c qemu:///system uri >/dev/null 2>&1; then ok=1; break; fi
    sleep 2
done
echo "waited $(( $(up) - t0 )) s for libvirtd"
if [ -n "$ok" ]; then
    timeout 60 virsh -c qemu:///system version
    timeout 60 virsh -c qemu:///system list --all && echo LIBVIRTD-OK
fi
echo "--- processes"; ps -o pid,stat,time,args | grep -v ' \[' | tail -20
echo "--- libvirtd output"; grep -v " info : " /tmp/libvirtd.out | tail -20; tail -20 /var/log/libvirt/libvirtd.log 2>/dev/null
[ -n "$ok" ]
