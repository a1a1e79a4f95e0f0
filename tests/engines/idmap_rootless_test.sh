#!/usr/bin/env bash
# Issue 6.5: id mapping and rootless use.
# Part 1 (root): uidmapping=/gidmapping=, squash_to_root, squash_to_uid=/gid=
#   as fuse-overlayfs defines them; fuse-overlayfs on the same layers and the
#   same operations is the oracle (owners shown by the mount and stored in
#   the upper must be equal).
# Part 2 (a real unprivileged user, uid 65534, through fusermount3): mount,
#   write, delete lower entries, re-create a lower directory, copy up, then
#   fusermount3 -u. The upper must hold whiteouts and opaque markers a
#   privileged reader understands (kernel overlayfs with userxattr, stratafs).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
eng_init idmap
T=$ENG_TMP
chmod 755 "$T"
FOVL=$(command -v fuse-overlayfs) || eng_fail "fuse-overlayfs (the oracle) is not installed"
as_user() { local u=$1; shift; setpriv --reuid "$u" --regid "$u" --clear-groups "$@"; }

# ---- Part 1: owner mapping, stratafs against fuse-overlayfs ----
mkdir -p "$T/l/d"
echo a > "$T/l/a"; echo b > "$T/l/b"; echo c > "$T/l/c"
chown 1:1 "$T/l/b"; chown 5:7 "$T/l/d"; chown 200000:200000 "$T/l/c"; chmod 777 "$T/l/d"
# run_case IMPL OPTS: what the mount shows and what the upper stores.
run_case() {
  local impl=$1 opts=$2 dir=$T/case-$RANDOM
  mkdir -p "$dir"/{u,w,m}
  "$impl" "$dir/m" -o "lowerdir=$T/l,upperdir=$dir/u,workdir=$dir/w,$opts" 2>/dev/null || { echo "mount failed"; return; }
  eng_wait_mounted "$dir/m" "$(awk -v p="$dir/m" '$5 == p { for (i = 7; i <= NF; i++) if ($i == "-") print $(i + 1) }' /proc/self/mountinfo)" || { echo "not live"; return; }
  (
    cd "$dir/m" || exit 1
    echo "shown: $(stat -c '%n=%u:%g' a b c d | tr '\n' ' ')"
    echo root > new-root
    as_user 1000 sh -c 'echo u > d/new-1000' 2>&1
    chown 110004:110004 a 2>&1
    mkdir newdir && chown 1:1 newdir 2>&1
    echo "after: $(stat -c '%n=%u:%g' a new-root d/new-1000 newdir | tr '\n' ' ')"
  )
  umount "$dir/m"
  echo "stored: $(cd "$dir/u" && find . -mindepth 1 ! -name '.wh.*' -printf '%p=%U:%G\n' | LC_ALL=C sort | tr '\n' ' ')"
}
failures=0
for opts in \
  "uidmapping=0:1000:1:1:110000:65536,gidmapping=0:1000:1:1:110000:65536" \
  "squash_to_root" \
  "squash_to_uid=4242,squash_to_gid=4343" \
  "squash_to_root,squash_to_uid=77" \
  "uidmapping=0:100000:65536,gidmapping=0:100000:65536"; do
  want=$(run_case "$FOVL" "$opts")
  got=$(run_case "$STRATAFS" "$opts")
  echo "$want" | grep -q '^shown: a=' || eng_fail "oracle run for -o $opts: $want"
  if [ "$want" != "$got" ]; then
    echo "MISMATCH for -o $opts" >&2
    diff <(echo "$want") <(echo "$got") >&2
    failures=$((failures + 1))
  else
    echo "id mapping -o $opts: same as fuse-overlayfs"
  fi
done
[ "$failures" -eq 0 ] || eng_fail "$failures id-mapping case(s) differ from fuse-overlayfs"
for bad in "uidmapping=0:1000" "uidmapping=a:b:c" "gidmapping=0:1:0" "squash_to_uid=x"; do
  mkdir -p "$T/bad"/{u,w,m}
  "$STRATAFS" "$T/bad/m" -o "lowerdir=$T/l,upperdir=$T/bad/u,workdir=$T/bad/w,$bad" 2>/dev/null && eng_fail "-o $bad accepted"
  eng_is_mounted "$T/bad/m" && eng_fail "-o $bad mounted"
done

# ---- Part 2: rootless, as uid 65534 through fusermount3 ----
NOBODY=65534
command -v fusermount3 >/dev/null || eng_fail "fusermount3 (package fuse3) is missing"
[ -u "$(command -v fusermount3)" ] || eng_fail "fusermount3 is not setuid root"
# Debian's udev makes /dev/fuse 0666; some container hosts leave it 0600,
# which no unprivileged FUSE user can open. Widen it for the test only.
fuse_mode=$(stat -c %a /dev/fuse)
restore_fuse() { chmod "$fuse_mode" /dev/fuse; }
ENG_CLEANUP_HOOK=restore_fuse
[ "$fuse_mode" = 666 ] || chmod 666 /dev/fuse

r=$T/rootless
mkdir -p "$r"/{lower/dir,lower/gone,upper,work,mnt}
echo keep > "$r/lower/keep"; echo del > "$r/lower/del"; echo f > "$r/lower/dir/f"; echo g > "$r/lower/gone/g"
echo mv > "$r/lower/mvme"
chown -R $NOBODY:$NOBODY "$r"
lower_digest=$(eng_tree_digest "$r/lower")
opts="lowerdir=$r/lower,upperdir=$r/upper,workdir=$r/work"
if ! err=$(cd / && as_user $NOBODY "$STRATAFS" "$r/mnt" -o "$opts" 2>&1); then
  if echo "$err" | grep -q "cannot prepare .*/work: Permission denied"; then
    # The daemon creates WORKDIR/work with mode 000 (the kernel's choice),
    # which only a process with CAP_DAC_OVERRIDE can then open.
    eng_known_bug "rootless: WORKDIR/work is created mode 000 and cannot be opened by its unprivileged owner ($err)"
    rm -rf "$r/work" && mkdir -p "$r/work/work" && chmod 700 "$r/work/work" && chown -R $NOBODY:$NOBODY "$r/work"
    err=$(cd / && as_user $NOBODY "$STRATAFS" "$r/mnt" -o "$opts" 2>&1) || eng_fail "rootless mount: $err"
  else
    eng_fail "rootless mount: $err"
  fi
fi
line=$(awk -v p="$r/mnt" '$5 == p' /proc/self/mountinfo)
echo "$line" | grep -q ' - fuse.stratafs stratafs .*user_id=65534' || eng_fail "rootless mountinfo: $line"
out=$(cd / && as_user $NOBODY sh -c "
  set -e
  cd '$r/mnt'
  echo new > new
  rm del
  rm -rf gone && mkdir gone && echo again > gone/again
  echo more >> keep
  mv mvme moved
  rm dir/f
  ls -A | sort | tr '\n' ' '; echo
  ls -A gone | tr '\n' ' '; echo
  cat keep | tr '\n' ' '
" 2>&1) || eng_fail "rootless work failed: $out"
[ "$out" = "dir gone keep moved new 
again 
keep more " ] || eng_fail "rootless view: $out"
(cd / && as_user $NOBODY fusermount3 -u "$r/mnt") || eng_fail "fusermount3 -u"
eng_is_mounted "$r/mnt" && eng_fail "still mounted after fusermount3 -u"
[ "$(eng_tree_digest "$r/lower")" = "$lower_digest" ] || eng_fail "rootless: the lower layer was written"

# Whiteouts: a 0/0 device (unprivileged users may make those since Linux 5.8)
# or a .wh.NAME file; opaque: user.overlay.opaque (trusted.* is root's).
is_whiteout() { [ "$(stat -c '%F %t:%T' "$1/$2" 2>/dev/null)" = "character special file 0:0" ] || [ -e "$1/.wh.$2" ]; }
for gone in del mvme dir/f; do
  d=$(dirname "$r/upper/$gone"); is_whiteout "$d" "$(basename "$gone")" || eng_fail "rootless: no whiteout for $gone"
done
[ "$(getfattr --only-values -n user.overlay.opaque "$r/upper/gone" 2>/dev/null)" = y ] || eng_fail "rootless: re-created dir not marked user.overlay.opaque"
[ -z "$(find "$r/upper" -name '.wh..wh..opq')" ] || eng_fail "rootless: .wh..wh..opq junk in the upper"
[ "$(find "$r/upper" ! -user $NOBODY | head -1)" = "" ] || eng_fail "rootless: upper entries not owned by the user"

# A privileged reader sees the same tree: kernel overlayfs with userxattr.
mkdir -p "$r/kmnt" "$r/kwork"
mount -t overlay overlay -o "lowerdir=$r/upper:$r/lower,userxattr" "$r/kmnt" || eng_fail "kernel overlay (userxattr) mount"
seen=$(cd "$r/kmnt" && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')
umount "$r/kmnt"
[ "$seen" = "./dir ./gone ./gone/again ./keep ./moved ./new " ] || eng_fail "kernel overlay reads the rootless upper as: $seen"
echo "rootless: mount/unmount through fusermount3, unprivileged whiteouts and opaque markers read back by the kernel"
