#!/usr/bin/env bash
# Lowers and the upper on different filesystems (the layers on one disk, the
# upper on a tmpfs), which neither a reflink nor copy_file_range can cross:
# a copy-up then moves its data with sendfile, and the daemon copies a
# copy_file_range into the upper (cp, mv's copy of a lower directory) through
# a pipe (splice) instead of leaving the kernel to copy it through READ
# requests. What the mount shows afterwards must be what kernel overlayfs
# shows for the same work on the same layout; the daemon must have used
# sendfile and splice, and answered no READ.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
eng_init cross-fs
command -v strace >/dev/null || eng_skip "strace is not installed (apt-get install strace)"
command -v getfattr >/dev/null || eng_skip "getfattr is not installed (apt-get install attr)"
T=$ENG_TMP

mkdir -p "$T/lower/dir/sub"
head -c 3000000 /dev/urandom > "$T/lower/dir/dense"
truncate -s 8M "$T/lower/dir/sparse"
printf 'x' | dd of="$T/lower/dir/sparse" bs=1 seek=$((4 << 20)) conv=notrunc status=none
for i in $(seq 1 40); do echo "small file $i" > "$T/lower/dir/sub/s$i"; done

workload='printf more >> dir/dense && printf y >> dir/sparse && chmod 600 dir/sub/s1 &&
  cp dir/sub/s2 dir/s2.copy && cp dir/dense dir/dense.copy && mv dir dir.moved'

# Names, types, modes, sizes and contents of a tree (no times: cp stamps its
# copies with the time it runs).
view_digest() {
  (
    cd "$1" || exit 1
    find . -printf '%p %y %m %s\n' | LC_ALL=C sort
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
  ) | sha256sum | cut -d' ' -f1
}

for impl in kernel stratafs; do
  mkdir -p "$T/$impl" "$T/mnt-$impl"
  mount -t tmpfs -o size=64m "strata-eng-$impl" "$T/$impl" || eng_fail "tmpfs for the $impl upper"
  mkdir -p "$T/$impl/upper" "$T/$impl/work"
  layers="lowerdir=$T/lower,upperdir=$T/$impl/upper,workdir=$T/$impl/work"
  if [ "$impl" = kernel ]; then
    mount -t overlay overlay -o "$layers" "$T/mnt-kernel" || eng_fail "kernel overlayfs mount"
  else
    strace -f -qq -e trace=sendfile,splice -o "$T/strace" \
      "$STRATAFS" -f "$T/mnt-stratafs" -o "$layers" 2>"$T/daemon.log" &
    pid=$!
    eng_wait_mounted "$T/mnt-stratafs" fuse.stratafs || { cat "$T/daemon.log" >&2; eng_fail "stratafs mount not live"; }
  fi
  (cd "$T/mnt-$impl" && eval "$workload") || eng_fail "$impl: workload failed"
  if [ "$impl" = stratafs ]; then
    stats=$(getfattr --absolute-names -n trusted.strata.stats --only-values "$T/mnt-stratafs") || eng_fail "daemon stats"
    reads=$(echo "$stats" | grep -oE '"read":\{"count":[0-9]+' | grep -oE '[0-9]+$' || echo 0)
  fi
  digest=$(view_digest "$T/mnt-$impl") || eng_fail "$impl: digest"
  eval "digest_$impl=$digest"
  echo "$impl: $digest"
  umount "$T/mnt-$impl" || eng_fail "$impl: umount"
done
timeout 20 tail --pid="$pid" -f /dev/null || eng_fail "daemon did not exit after umount"
wait "$pid"

[ "$digest_kernel" = "$digest_stratafs" ] || eng_fail "the merged views differ from kernel overlayfs"
# Only the daemon's own copies write from a pipe into a file at an offset
# (libfuse's spliced READ replies go from a pipe to /dev/fuse, offset NULL).
splices=$(grep -cE '^[0-9]+ +splice\([0-9]+, NULL, [0-9]+, \[' "$T/strace")
sendfiles=$(grep -cE '^[0-9]+ +sendfile\(' "$T/strace")
echo "daemon: $sendfiles sendfile calls, $splices splices from a pipe into a file, $reads READ requests"
[ "$sendfiles" -gt 0 ] || eng_fail "no copy-up went through sendfile"
[ "$splices" -gt 0 ] || eng_fail "no copy across filesystems went through a pipe"
[ "$reads" -eq 0 ] || eng_fail "the kernel copied through READ requests ($reads)"
echo "cross-fs: copy-ups and copies across filesystems match kernel overlayfs"
