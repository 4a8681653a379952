#!/bin/sh
# Runs in dom0 inside the chroot of the host's root filesystem: starts the
# host's own Xen daemons the way Debian's /etc/init.d/xen does.
M=$1 XENSTORED=$2
X=/usr/lib/xen-4.17/bin
mkdir -p /run/xenstored /run/xen /var/log/xen/console /var/lib/xen /var/lib/xenstored
export XENSTORED_ROOTDIR=/run/xenstored
case $XENSTORED in
    c) $X/xenstored --pid-file /run/xenstore.pid ;;
    *) $X/oxenstored --pid-file /run/xenstore.pid ;;
esac || { echo "$M-LOG xenstored failed to start"; exit 1; }
i=0
until xenstore-read -s / >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 300 ] && { echo "$M-LOG xenstored not answering"; exit 1; }
    sleep 0.1
done
echo "$M-STAGE xenstored $(cut -d' ' -f1 /proc/uptime)"
$X/xen-init-dom0 >/dev/null || echo "$M-LOG xen-init-dom0 failed"
$X/xenconsoled --pid-file=/run/xenconsoled.pid --log=guest || echo "$M-LOG xenconsoled failed"
exit 0
