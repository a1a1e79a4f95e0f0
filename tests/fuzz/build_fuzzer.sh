#!/bin/sh
# Builds with clang for libFuzzer (the project itself may be built by gcc,
# which has no libFuzzer), everything instrumented with ASan+UBSan+coverage.
#   build_fuzzer.sh lib OUTPUT.a SOURCE_ROOT SOURCES...       a library (the core, or
#                                                            the extra sources of a target)
#   build_fuzzer.sh exe OUTPUT SOURCE_ROOT TARGET.cc LIB.a... one fuzz target (archives
#                                                            in link order)
set -eu
mode=$1 out=$2 root=$3
shift 3
flags="-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
  -D_GNU_SOURCE -DFUSE_USE_VERSION=314 -I$root $(pkg-config --cflags fuse3 spdlog libxxhash libarchive)"
if [ "$mode" = lib ]; then
  objs=$(mktemp -d)
  trap 'rm -rf "$objs"' EXIT
  i=0
  for src in "$@"; do
    i=$((i + 1))
    # -fsanitize=fuzzer-no-link: coverage without a second main().
    clang++ $(echo "$flags" | sed 's/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,/') -c "$src" -o "$objs/$i.o"
  done
  rm -f "$out"
  ar rcs "$out" "$objs"/*.o
else
  exec clang++ $flags -o "$out" "$@" $(pkg-config --libs fuse3 spdlog libxxhash libarchive)
fi
