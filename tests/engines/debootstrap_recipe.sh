#!/usr/bin/env bash
# The README's rootfs recipe, for real (minutes, needs the Debian mirror; not
# part of `meson test`):
#   STRATAFS=build/fs/stratafs tests/engines/debootstrap_recipe.sh [BASE_DIR]
# Debootstraps a minbase Debian into BASE_DIR (kept and reused if it already
# holds one), mounts it as the lower layer of a stratafs mount through
# mount -t fuse.stratafs, runs apt-get and dpkg in a chroot, and checks that
# everything they changed went to the upper, the base being untouched.
here=$(cd "$(dirname "$0")" && pwd)
# See rootfs_test.sh: a private mount namespace where /usr/local/sbin holds
# the `stratafs` helper mount.fuse3 runs.
if [ -z "${ENG_IN_PRIVATE_NS:-}" ]; then
  exec unshare --mount --propagation private env ENG_IN_PRIVATE_NS=1 "$0" "$@"
fi
. "$here/lib.sh"
eng_init debootstrap
T=$ENG_TMP
base=${1:-$T/base}
suite=${SUITE:-bookworm}
mirror=${MIRROR:-http://deb.debian.org/debian}
command -v debootstrap >/dev/null || eng_fail "apt-get install debootstrap"
if [ ! -x "$base/usr/bin/dpkg" ]; then
  eng_log "debootstrap --variant=minbase $suite $base"
  time debootstrap --variant=minbase "$suite" "$base" "$mirror" > "$T/debootstrap.log" 2>&1 || { tail "$T/debootstrap.log"; eng_fail "debootstrap"; }
fi
digest=$(eng_tree_digest "$base")
mkdir -p "$T"/{bin,upper,work,mnt}
ln -s "$(realpath "$STRATAFS")" "$T/bin/stratafs"
mount --bind "$T/bin" /usr/local/sbin || eng_fail "bind mount over /usr/local/sbin"
mount -t fuse.stratafs stratafs "$T/mnt" -o "lowerdir=$base,upperdir=$T/upper,workdir=$T/work" || eng_fail "mount"
mount --bind /proc "$T/mnt/proc" && mount --bind /dev "$T/mnt/dev" || eng_fail "bind mounts"
cp /etc/resolv.conf "$T/mnt/etc/resolv.conf"
# dpkg alone first: reinstall base packages from debootstrap's own cache
# (replaces lower files in place), then check dpkg's database.
chroot "$T/mnt" sh -c 'dpkg -i /var/cache/apt/archives/dash_*.deb /var/cache/apt/archives/coreutils_*.deb' >/dev/null || eng_fail "dpkg -i in the chroot"
chroot "$T/mnt" dpkg --audit || eng_fail "dpkg database inconsistent after dpkg -i"
time chroot "$T/mnt" apt-get update -qq || eng_fail "apt-get update in the chroot"
time chroot "$T/mnt" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends busybox >/dev/null || eng_fail "apt-get install"
chroot "$T/mnt" dpkg -s busybox | grep -q '^Status: install ok installed' || eng_fail "dpkg does not list busybox"
chroot "$T/mnt" busybox true || eng_fail "installed busybox does not run"
chroot "$T/mnt" dpkg --purge busybox >/dev/null || eng_fail "dpkg --purge"
chroot "$T/mnt" sh -c 'test ! -e /bin/busybox' || eng_fail "purged busybox still there"
chroot "$T/mnt" dpkg --audit || eng_fail "dpkg database inconsistent"
umount "$T/mnt/dev" "$T/mnt/proc" "$T/mnt" || eng_fail "umount"
[ "$(eng_tree_digest "$base")" = "$digest" ] || eng_fail "the base layer was written"
[ -d "$T/upper/var/lib/dpkg" ] || eng_fail "dpkg's changes are not in the upper"
du -sh "$T/upper"
echo "debootstrap recipe: apt-get/dpkg work in a chroot on stratafs, base untouched"
