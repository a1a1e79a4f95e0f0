#!/usr/bin/env bash
# Issue 6.4: writable-layer quota, -o quota=SIZE[,quota_inodes=N]. Once the
# upper would pass the limit, writes, copy-ups, truncates and creates fail
# with ENOSPC (or EDQUOT) and nothing already written changes; statfs reports
# the quota as the filesystem's size; the usage survives a remount; freeing
# space makes writing possible again.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
eng_init quota
T=$ENG_TMP
MiB=1048576
mkdir -p "$T"/{lower,upper,work,mnt}
(set +o pipefail; yes strata-lower-big | head -c $((3 * MiB))) > "$T/lower/big-lower"
echo small > "$T/lower/small-lower"
lower_digest=$(eng_tree_digest "$T/lower")
mnt=$T/mnt

# fill FILE BYTES WORD: writes BYTES of repeated WORD (head's status counts).
fill() { (set +o pipefail; yes "$3" | head -c "$2") > "$1"; }
mount_q() { "$STRATAFS" "$mnt" -o "lowerdir=$T/lower,upperdir=$T/upper,workdir=$T/work$1" || eng_fail "mount $1"; }
# The write must fail with "No space left on device" or "Disk quota exceeded".
expect_full() {
  local what=$1; shift
  local err
  if err=$("$@" 2>&1); then eng_fail "$what succeeded past the quota"; fi
  echo "$err" | grep -qE 'No space left on device|Disk quota exceeded' || eng_fail "$what failed, but not with ENOSPC/EDQUOT: $err"
}
fs_size() { stat -f -c '%b %S' "$mnt" | awk '{ print $1 * $2 }'; }
fs_used() { stat -f -c '%b %f %S' "$mnt" | awk '{ print ($1 - $2) * $3 }'; }

# --- byte quota ---
mount_q ",quota=10M"
[ "$(fs_size)" -eq $((10 * MiB)) ] || eng_fail "statfs size $(fs_size), expected the quota $((10 * MiB))"
fill "$mnt/first" $((5 * MiB)) strata-first || eng_fail "5 MiB in a 10 MiB quota"
first_sum=$(sha256sum < "$mnt/first")
used=$(fs_used); [ "$used" -ge $((5 * MiB)) ] && [ "$used" -le $((6 * MiB)) ] || eng_fail "statfs used $used after writing 5 MiB"
expect_full "a 6 MiB write after 5 MiB" dd if=/dev/zero of="$mnt/second" bs=64k count=96 conv=fsync
[ "$(sha256sum < "$mnt/first")" = "$first_sum" ] || eng_fail "first file changed by the failed write"
# A copy-up that would pass the limit fails whole: the lower file stays as it was.
rm -f "$mnt/second"
fill "$mnt/pad" $((3 * MiB)) pad || eng_fail "3 MiB more (8 of 10)"
expect_full "copy-up of a 3 MiB lower file" sh -c "echo more >> '$mnt/big-lower'"
cmp -s "$mnt/big-lower" "$T/lower/big-lower" || eng_fail "big-lower changed after a failed copy-up"
[ -e "$T/upper/big-lower" ] && eng_fail "a partial copy-up was left in the upper"
expect_full "truncate past the quota" truncate -s $((6 * MiB)) "$mnt/pad"
[ "$(stat -c %s "$mnt/pad")" -eq $((3 * MiB)) ] || eng_fail "pad size changed by a failed truncate"
# Small copy-ups and creates still fit.
echo more >> "$mnt/small-lower" || eng_fail "small copy-up within the quota"
# Freeing space lets the copy-up through.
rm "$mnt/pad" || eng_fail "rm"
echo more >> "$mnt/big-lower" || eng_fail "copy-up after freeing space"
used_before=$(fs_used)
umount "$mnt" || eng_fail "umount"

# The usage survives a remount.
mount_q ",quota=10M"
[ "$(fs_used)" -eq "$used_before" ] || eng_fail "usage after remount $(fs_used), before $used_before"
expect_full "a 3 MiB write after remount with 8 of 10 MiB used" dd if=/dev/zero of="$mnt/after" bs=64k count=48
[ "$(sha256sum < "$mnt/first")" = "$first_sum" ] || eng_fail "first file changed across remount"
umount "$mnt" || eng_fail "umount"

# --- inode quota ---
rm -rf "$T/upper" "$T/work" && mkdir -p "$T/upper" "$T/work"
mount_q ",quota_inodes=20"
n=0
while [ $n -lt 40 ] && touch "$mnt/f$n" 2>"$T/touch.err"; do n=$((n + 1)); done
[ $n -gt 0 ] && [ $n -le 20 ] || eng_fail "created $n files under quota_inodes=20"
grep -qE 'No space left on device|Disk quota exceeded' "$T/touch.err" || eng_fail "create failed with: $(cat "$T/touch.err")"
expect_full "mkdir past quota_inodes" mkdir "$mnt/dir"
expect_full "symlink past quota_inodes" ln -s f0 "$mnt/link"
expect_full "copy-up past quota_inodes" sh -c "echo x >> '$mnt/small-lower'"
[ "$(stat -f -c %c "$mnt")" -eq 20 ] || eng_fail "statfs inodes $(stat -f -c %c "$mnt"), expected 20"
rm "$mnt/f0" && touch "$mnt/again" || eng_fail "create after freeing an inode"
umount "$mnt" || eng_fail "umount"

# --- bad values are refused, nothing mounted ---
for bad in quota=0 quota=lots quota_inodes=-1; do
  "$STRATAFS" "$mnt" -o "lowerdir=$T/lower,upperdir=$T/upper,workdir=$T/work,$bad" 2>/dev/null && eng_fail "$bad accepted"
  eng_is_mounted "$mnt" && eng_fail "$bad mounted"
done
"$STRATAFS" "$mnt" -o "lowerdir=$T/lower,quota=1M" 2>/dev/null && eng_fail "quota without upperdir accepted"
eng_is_mounted "$mnt" && eng_fail "quota without upperdir mounted"

[ "$(eng_tree_digest "$T/lower")" = "$lower_digest" ] || eng_fail "the lower layer was written"
echo "quota: bytes and inodes limits, statfs, failed copy-up/write/truncate harmless, survives remount"
