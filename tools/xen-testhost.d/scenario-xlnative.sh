#!/bin/sh
# Our xl.cfg output against xl's own parser, on real Xen: every domain XML
# of libvirt 9.0's tests/xlconfigdata converted by our driver
# (`virsh domxml-to-native xen-xl`, through the private libvirtd) and
# given to `xl create --dryrun` (which parses it with libxl's parser and
# prints the domain config it would build, making nothing).  libvirt's
# own expected .cfg of the same name goes through the same parser, so
# what xl refuses of both is told apart from what it refuses of ours.
# Runs in dom0 under tools/xen-testhost:
#   tools/xen-testhost run --timeout 1800 -- \
#       "BUILD_DIR=... sh tools/xen-testhost.d/scenario-xlnative.sh"
# A report: each file's line is "XLNATIVE NAME ours=ok|refused|noconv
# libvirt=ok|refused", then the counts; the CHECK fails only for a file
# whose libvirt .cfg xl accepts and whose conversion by us it refuses
# (docs/xl-native.md, "xl's parser").
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tools/xen-testhost.d/scenario-lib.sh"

data=$(ls -d "$TOP"/.cache/libvirt/*/src/tests/xlconfigdata 2>/dev/null | head -1)
OUT=/tmp/xlnative
mkdir -p $OUT

step "the private libvirtd with our plugin"
if [ -z "$data" ]; then
    echo "no libvirt source tree under $TOP/.cache/libvirt (tools/setup-deps unpacks it)"
    check libvirt-tests false
    finish
fi
if ! libvirtd_private start /tmp/lvd "$BUILD" > /tmp/uri; then
    check libvirtd false
    tail -20 /tmp/lvd/libvirtd.log
    finish
fi
URI=$(tail -1 /tmp/uri)

# xl's verdict on a cfg: ok or refused (its first error line kept).
xl_dry() {   # CFG
    if xl create --dryrun "$1" > "$1.json" 2> "$1.err"; then
        echo ok
    else
        echo refused
    fi
}

step "xl create --dryrun on ours and on libvirt's"
ours_ok=0 ours_refused=0 noconv=0 both_refused=0 only_ours=0
for xml in "$data"/*.xml; do
    name=$(basename "$xml" .xml)
    cfg=$data/$name.cfg
    [ -f "$cfg" ] || continue
    cp "$cfg" "$OUT/$name.libvirt.cfg"
    theirs=$(xl_dry "$OUT/$name.libvirt.cfg")
    if ! timeout 120 virsh -c "$URI" domxml-to-native xen-xl "$xml" \
            > "$OUT/$name.ours.cfg" 2> "$OUT/$name.conv.err"; then
        ours=noconv
        noconv=$((noconv + 1))
    else
        ours=$(xl_dry "$OUT/$name.ours.cfg")
    fi
    echo "XLNATIVE $name ours=$ours libvirt=$theirs"
    case $ours in
    ok) ours_ok=$((ours_ok + 1)) ;;
    refused)
        ours_refused=$((ours_refused + 1))
        echo "  xl on ours: $(head -c 300 "$OUT/$name.ours.cfg.err" | tr '\n' ' ')"
        if [ "$theirs" = ok ]; then
            only_ours=$((only_ours + 1))
        else
            both_refused=$((both_refused + 1))
            echo "  xl on libvirt's: $(head -c 300 "$OUT/$name.libvirt.cfg.err" | tr '\n' ' ')"
        fi ;;
    noconv) echo "  $(head -c 300 "$OUT/$name.conv.err" | tr '\n' ' ')" ;;
    esac
done
echo "XLNATIVE SUMMARY: ours accepted $ours_ok, refused $ours_refused" \
     "($both_refused of them refused in libvirt's form too), not" \
     "converted $noconv"
check xl-accepts-what-it-accepts-of-libvirt [ "$only_ours" = 0 ]
libvirtd_private stop /tmp/lvd
finish
