#!/usr/bin/env bash
# Issue 6.2: a layer stack as a root filesystem. Mounts two busybox-based
# lower layers through mount(8) -> mount.fuse3 -> stratafs, first with
# `mount -t fuse.stratafs`, then from an fstab line (`mount -T` on a private
# fstab, the real /etc/fstab is untouched); runs write/delete/rename work in a
# chroot; checks the upper in kernel overlayfs format and reads it back with a
# kernel overlay mount.
here=$(cd "$(dirname "$0")" && pwd)
# mount(8) runs mount.fuse3 with a cleared environment, so its shell finds
# the `stratafs` helper only in the default PATH (/usr/local/sbin first). The
# test runs in a private mount namespace and bind-mounts a directory holding
# a `stratafs` link to $STRATAFS over /usr/local/sbin there: the build's
# binary is used, nothing on the host changes, and every mount it makes dies
# with the namespace at the latest.
if [ -z "${ENG_IN_PRIVATE_NS:-}" ]; then
  exec unshare --mount --propagation private env ENG_IN_PRIVATE_NS=1 "$0" "$@"
fi
. "$here/lib.sh"
eng_init rootfs
[ -x /sbin/mount.fuse3 ] || [ -x /usr/sbin/mount.fuse3 ] || eng_fail "mount.fuse3 (package fuse3) is missing"
T=$ENG_TMP
mkdir -p "$T"/{bin,upper,work,mnt,kupper,kwork,kmnt}
# mount.fuse3 runs the helper named after the subtype, found in PATH.
ln -s "$(realpath "$STRATAFS")" "$T/bin/stratafs"
mount --bind "$T/bin" /usr/local/sbin || eng_fail "bind mount over /usr/local/sbin (private namespace)"
# The daemon serving $1 must be the binary under test.
check_daemon() {
  local pid
  pid=$(pgrep -f "stratafs .*$1" | head -1)
  [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe")" = "$(realpath "$STRATAFS")" ] || eng_fail "the mount is not served by $STRATAFS"
}

# Base layer: busybox rootfs. Top layer: an application layer on top of it
# (adds files, deletes one from the base by a whiteout, replaces a directory).
eng_make_busybox_rootfs "$T/base" || eng_fail "busybox rootfs"
mkdir -p "$T/base/usr/share/doc/old" "$T/base/var/log"
echo old > "$T/base/usr/share/doc/old/README"
echo base > "$T/base/etc/motd"
mkdir -p "$T/app/etc" "$T/app/usr/share/doc" "$T/app/opt/app"
echo app > "$T/app/etc/motd"
mknod "$T/app/etc/group" c 0 0                    # the app layer deletes /etc/group
mkdir "$T/app/usr/share/doc/old" && setfattr -n trusted.overlay.opaque -v y "$T/app/usr/share/doc/old"
echo new > "$T/app/usr/share/doc/old/NEW"
printf '#!/bin/sh\necho app-ran\n' > "$T/app/opt/app/run" && chmod 755 "$T/app/opt/app/run"
lowers="$T/app:$T/base"
lower_digest=$(eng_tree_digest "$T/app")$(eng_tree_digest "$T/base")

opts="lowerdir=$lowers,upperdir=$T/upper,workdir=$T/work"
mount -t fuse.stratafs stratafs "$T/mnt" -o "$opts" || eng_fail "mount -t fuse.stratafs"
eng_is_mounted "$T/mnt" || eng_fail "not mounted after mount(8) returned"
check_daemon "$T/mnt"
line=$(awk -v p="$T/mnt" '$5 == p' /proc/self/mountinfo)
echo "$line" | grep -q ' - fuse.stratafs stratafs ' || eng_fail "mountinfo type/source: $line"

out=$(chroot "$T/mnt" /bin/sh -c '
  set -e
  cat /etc/motd
  test ! -e /etc/group && echo group-deleted
  ls /usr/share/doc/old
  /opt/app/run
  echo hello > /root/new-file
  rm /etc/motd
  mv /etc/passwd /etc/passwd.old
  mkdir -p /var/log/app && echo line >> /var/log/app/log
  rm -rf /usr/share/doc/old && mkdir /usr/share/doc/old && echo again > /usr/share/doc/old/AGAIN
  ln -s /root/new-file /root/link
  chmod 4755 /opt/app/run
  ls /usr/share/doc/old
' 2>&1) || eng_fail "chroot work failed: $out"
expected='app
group-deleted
NEW
app-ran
AGAIN'
[ "$out" = "$expected" ] || eng_fail "chroot saw: $out"
# What the chroot saw, to compare with a kernel overlay mount of the result.
( cd "$T/mnt" && find . -xdev ! -path './proc*' -printf '%p %y %m %s %l\n' | LC_ALL=C sort ) > "$T/seen-stratafs"
umount "$T/mnt" || eng_fail "umount"
eng_is_mounted "$T/mnt" && eng_fail "still mounted after umount"

# The upper in kernel overlayfs format.
u=$T/upper
[ "$(cat "$u/root/new-file")" = hello ] || eng_fail "upper: new file"
[ "$(stat -c '%F %t:%T' "$u/etc/motd")" = "character special file 0:0" ] || eng_fail "upper: whiteout for /etc/motd"
[ "$(stat -c '%F %t:%T' "$u/etc/passwd")" = "character special file 0:0" ] || eng_fail "upper: whiteout for the renamed /etc/passwd"
[ -f "$u/etc/passwd.old" ] || eng_fail "upper: renamed file"
[ "$(getfattr --only-values -n trusted.overlay.opaque "$u/usr/share/doc/old" 2>/dev/null)" = y ] || eng_fail "upper: re-created dir not opaque"
[ "$(stat -c %a "$u/opt/app/run")" = 4755 ] || eng_fail "upper: setuid bit"
[ "$(readlink "$u/root/link")" = /root/new-file ] || eng_fail "upper: symlink"
ls -a "$u/usr/share/doc/old" | grep -q '^.wh.' && eng_fail "upper: junk .wh. file"

# Kernel overlayfs over the same layers and this upper shows the same tree.
cp -a "$T/upper/." "$T/kupper/"
mount -t overlay overlay -o "lowerdir=$lowers,upperdir=$T/kupper,workdir=$T/kwork" "$T/kmnt" || eng_fail "kernel overlay mount"
( cd "$T/kmnt" && find . -xdev ! -path './proc*' -printf '%p %y %m %s %l\n' | LC_ALL=C sort ) > "$T/seen-kernel"
umount "$T/kmnt"
diff -u "$T/seen-kernel" "$T/seen-stratafs" >&2 || eng_fail "kernel overlay reads the upper differently"

# fstab line, mounted with mount -T on a private fstab file.
echo "stratafs $T/mnt fuse.stratafs $opts,noatime,nodev 0 0" > "$T/fstab"
mount -T "$T/fstab" "$T/mnt" || eng_fail "mount -T fstab"
eng_is_mounted "$T/mnt" || eng_fail "fstab mount not live"
check_daemon "$T/mnt"
awk -v p="$T/mnt" '$5 == p' /proc/self/mountinfo | grep -q 'nodev' || eng_fail "fstab options (nodev) not applied"
out=$(chroot "$T/mnt" /bin/sh -c 'cat /root/new-file; test -e /etc/motd || echo motd-gone; cat /var/log/app/log') || eng_fail "chroot after fstab mount"
[ "$out" = "hello
motd-gone
line" ] || eng_fail "after remount via fstab: $out"
# Open, unlink, then fstat/ftruncate/write through the descriptor (apt-get
# update does this with its temporary files), on a new and on a lower file.
if command -v python3 >/dev/null; then
  echo lower > "$T/mnt/tmp/from-lower" 2>/dev/null
  out=$(python3 - "$T/mnt/tmp" <<'PY' 2>&1
import os, sys
for name in ("unlinked-new", "from-lower"):
    p = os.path.join(sys.argv[1], name)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    os.write(fd, b"data")
    os.unlink(p)
    for what, call in (("fstat", lambda: os.fstat(fd)), ("ftruncate", lambda: os.ftruncate(fd, 2))):
        try:
            call()
        except OSError as e:
            print(f"{name}: {what} after unlink: {e.strerror}")
    os.lseek(fd, 0, 0)
    if not os.read(fd, 10).startswith(b"da"):
        print(f"{name}: wrong data after unlink")
    os.close(fd)
PY
  )
  if [ -n "$out" ]; then
    if echo "$out" | grep -qv 'Stale file handle'; then eng_fail "unlinked open file: $out"; fi
    eng_known_bug "fstat/ftruncate on an open but unlinked file fail with ESTALE (breaks apt-get update in a chroot): $(echo "$out" | tr '\n' ';')"
  fi
fi
umount "$T/mnt" || eng_fail "umount (fstab)"

[ "$(eng_tree_digest "$T/app")$(eng_tree_digest "$T/base")" = "$lower_digest" ] || eng_fail "a lower layer was written"
echo "rootfs: mount -t fuse.stratafs, fstab line, chroot work and upper format OK"
