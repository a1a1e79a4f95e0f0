#!/usr/bin/env bash
# Issue 6.3: many containers on one image. N stratafs mounts share the same
# two lower layers, each with its own upper and work dir, and take parallel
# writers at the same time (creates, appends that copy up the same shared
# lower files, deletes, renames, directory churn). Then: no container sees
# another's changes; after unmount each upper holds only its own container's
# changes; removing upper+work leaves no trace (a fresh mount shows the
# image again); the lowers are never written (digest before and after).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
eng_init many
T=$ENG_TMP
N=${STRATA_ENG_CONTAINERS:-8}
WRITERS=2      # parallel writers per container
ROUNDS=40      # operations per writer

eng_make_busybox_rootfs "$T/image/base" || eng_fail "rootfs"
mkdir -p "$T/image/data/data/dir"
for i in $(seq 1 20); do echo "lower file $i" > "$T/image/data/data/dir/f$i"; done
for i in $(seq 1 "$N"); do echo "deleted by container $i" > "$T/image/data/data/only-del-$i"; done
echo "shared" > "$T/image/data/data/shared.txt"
yes strata-shared-big | head -c 8388608 > "$T/image/data/data/big"
lowers="$T/image/data:$T/image/base"
digest_before=$(eng_tree_digest "$T/image")

for i in $(seq 1 "$N"); do
  mkdir -p "$T/c$i"/{upper,work,mnt}
  "$STRATAFS" "$T/c$i/mnt" -o "lowerdir=$lowers,upperdir=$T/c$i/upper,workdir=$T/c$i/work" || eng_fail "mount $i"
done
for i in $(seq 1 "$N"); do eng_wait_mounted "$T/c$i/mnt" fuse.stratafs || eng_fail "mount $i not live"; done

# One writer: its own files, appends to the shared lower files (concurrent
# copy-ups of the same lower inode in N mounts), a partial overwrite of the
# big lower file, rename churn and directory churn.
writer() {
  local i=$1 w=$2 m=$T/c$1/mnt/data k
  for k in $(seq 1 "$ROUNDS"); do
    echo "container $i writer $w round $k" > "$m/c$i-w$w-$k" || return 1
    echo "container $i writer $w round $k" >> "$m/shared.txt" || return 1
    mkdir -p "$m/tmp-c$i-w$w/a/b" && echo x > "$m/tmp-c$i-w$w/a/b/x" && rm -rf "$m/tmp-c$i-w$w" || return 1
    mv "$m/c$i-w$w-$k" "$m/c$i-w$w-$k.done" || return 1
    echo "container $i" >> "$m/dir/f$(( (k % 20) + 1 ))" || return 1
  done
  [ "$w" = 1 ] && { printf 'container %s' "$i" | dd of="$m/big" bs=1 seek=4096 conv=notrunc 2>/dev/null || return 1; }
  [ "$w" = 1 ] && { rm "$m/only-del-$i" || return 1; }
  return 0
}
pids=()
for i in $(seq 1 "$N"); do
  for w in $(seq 1 "$WRITERS"); do writer "$i" "$w" & pids+=($!); done
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
[ "$bad" -eq 0 ] || eng_fail "$bad writer(s) failed"

# Isolation, seen through each mount.
for i in $(seq 1 "$N"); do
  m=$T/c$i/mnt/data
  own=$(ls "$m" | grep -c "^c$i-")
  [ "$own" -eq $((WRITERS * ROUNDS)) ] || eng_fail "container $i sees $own of its own files"
  others=$(ls "$m" | grep '^c[0-9]' | grep -vc "^c$i-")
  [ "$others" -eq 0 ] || eng_fail "container $i sees $others files of other containers"
  [ "$(grep -vc "^container $i writer " "$m/shared.txt")" -eq 1 ] || eng_fail "container $i: shared.txt has foreign lines"
  [ "$(grep -c "^container $i writer " "$m/shared.txt")" -eq $((WRITERS * ROUNDS)) ] || eng_fail "container $i: shared.txt lost appends"
  for f in "$m"/dir/f*; do
    grep '^container ' "$f" | grep -vqx "container $i" && eng_fail "container $i sees another container's append in $f"
  done
  [ "$(dd if="$m/big" bs=1 skip=4096 count=$((10 + ${#i})) 2>/dev/null)" = "container $i" ] || eng_fail "container $i: big has the wrong bytes"
  [ "$(stat -c %s "$m/big")" -eq 8388608 ] || eng_fail "container $i: big changed size"
  for j in $(seq 1 "$N"); do
    if [ "$j" = "$i" ]; then [ ! -e "$m/only-del-$j" ] || eng_fail "container $i: its delete did not happen"
    else [ -f "$m/only-del-$j" ] || eng_fail "container $i: sees container $j's delete"; fi
  done
done
[ "$(pgrep -fc "stratafs.*$T/c")" -eq "$N" ] || eng_fail "expected $N daemons"

for i in $(seq 1 "$N"); do umount "$T/c$i/mnt" || eng_fail "umount $i"; done
[ -z "$(eng_mounts_under "$T")" ] || eng_fail "mounts left: $(eng_mounts_under "$T")"
[ "$(eng_tree_digest "$T/image")" = "$digest_before" ] || eng_fail "the lower layers were written"

# Each upper holds only its own container's changes, then removing upper and
# work removes every trace: a fresh mount shows the image as it was.
for i in $(seq 1 "$N"); do
  foreign=$(find "$T/c$i/upper" -name 'c[0-9]*' ! -name "c$i-*" | head -1)
  [ -z "$foreign" ] || eng_fail "upper $i holds $foreign"
  [ "$(stat -c '%F %t:%T' "$T/c$i/upper/data/only-del-$i")" = "character special file 0:0" ] || eng_fail "upper $i: no whiteout"
  rm -rf "$T/c$i/upper" "$T/c$i/work"
done
mkdir -p "$T/fresh"/{upper,work,mnt}
"$STRATAFS" "$T/fresh/mnt" -o "lowerdir=$lowers,upperdir=$T/fresh/upper,workdir=$T/fresh/work" || eng_fail "fresh mount"
seen=$(cd "$T/fresh/mnt" && find . -printf '%p %y %m %s\n' | LC_ALL=C sort | sha256sum)
umount "$T/fresh/mnt"
mkdir -p "$T/ro"
"$STRATAFS" "$T/ro" -o "lowerdir=$lowers" || eng_fail "read-only mount of the image"
image=$(cd "$T/ro" && find . -printf '%p %y %m %s\n' | LC_ALL=C sort | sha256sum)
umount "$T/ro"
[ "$seen" = "$image" ] || eng_fail "a fresh container does not see the bare image"
[ -z "$(ls -A "$T/fresh/upper")" ] || eng_fail "a fresh mount that only read wrote to its upper: $(ls -A "$T/fresh/upper")"
echo "many containers: $N mounts x $WRITERS writers isolated, lowers untouched, no trace after removal"
