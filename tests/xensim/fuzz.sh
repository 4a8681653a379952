#!/bin/sh
# fuzz.sh: build the xenstore server's libFuzzer target with clang (ASan and
# UBSan) and run it, growing a work corpus seeded from fuzz-corpus/.
#
#   tests/xensim/fuzz.sh [SECONDS]          (default 600)
#
# Env: XENVIRT_BUILD_DIR (default <repo>/build), FUZZ_JOBS (parallel workers).
# Crashes land in $XENVIRT_BUILD_DIR/fuzz-xensim/; add a minimised
# reproducer to fuzz-corpus/ once fixed, so every build replays it.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${XENVIRT_BUILD_DIR:-$top/build}
out=$build/fuzz-xensim
seconds=${1:-600}

mkdir -p "$out/corpus"
cp -n "$here"/fuzz-corpus/* "$out/corpus/" 2>/dev/null || true

# shellcheck disable=SC2046
clang -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined \
    -I"$top/src/xensim" $(pkg-config --cflags glib-2.0 json-glib-1.0 libnbd) \
    "$here/xs_fuzz_target.c" \
    $(ls "$top"/src/xensim/*.c | grep -v '/main\.c$') \
    $(pkg-config --libs glib-2.0 json-glib-1.0 libnbd) \
    -o "$out/xs-fuzzer"

cd "$out"
# -jobs makes libFuzzer fork workers that log to fuzz-N.log: only on request.
exec ./xs-fuzzer -max_total_time="$seconds" ${FUZZ_JOBS:+-jobs=$FUZZ_JOBS} \
    -max_len=8192 -print_final_stats=1 corpus
