#!/usr/bin/env bash
# Full copy-up on a filesystem that can reflink (issue 4.1): a 1-byte append
# to a 1 GiB lower file, on an XFS loop image made with `mkfs.xfs -m reflink=1`
# holding the lower, the upper and the work dir, so copy-up can FICLONE the
# data instead of copying it. Kernel overlayfs, stratafs (default copy-up
# mode) and fuse-overlayfs (when installed) are measured in the same run,
# alternating, each on a fresh upper; prints the median of the runs, the
# min-max range, the ratio to kernel overlayfs, and whether the copied-up
# file shares its extents with the lower (i.e. was cloned).
#
#   sudo STRATAFS=build-rel/fs/stratafs bench/reflink.sh [--runs N] [--size MIB] [--workdir DIR]
#
# Needs root, mkfs.xfs (Debian's xfsprogs: installed on demand, bench only),
# filefrag (e2fsprogs) and losetup. Everything it mounts or attaches is
# undone on exit, failure or Ctrl-C.
set -u -o pipefail

readonly kRepo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=5
size_mib=1024
work="${STRATA_REFLINK_DIR:-/var/tmp/strata-reflink}"
stratafs="${STRATAFS:-$kRepo/build/fs/stratafs}"
fuse_overlayfs="${FUSE_OVERLAYFS:-/usr/bin/fuse-overlayfs}"

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --size) size_mib="$2"; shift 2 ;;
    --workdir) work="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "reflink.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

die() { echo "reflink.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (loop device, mounts)"
[[ -x "$stratafs" ]] || die "no stratafs at '$stratafs' (set STRATAFS; a release build is wanted)"
if ! command -v mkfs.xfs >/dev/null; then
  echo "reflink.sh: mkfs.xfs is missing; installing Debian's xfsprogs (needed by this benchmark only)" >&2
  apt-get install -y xfsprogs >/dev/null || die "cannot install xfsprogs"
fi
command -v filefrag >/dev/null || die "filefrag (e2fsprogs) is missing"

impls=(kernel stratafs)
[[ -x "$fuse_overlayfs" ]] && impls+=(fuse-overlayfs)

image="$work/xfs.img"
xfs="$work/xfs"
mnt="$work/mnt"
loopdev=""

cleanup() {
  if mountpoint -q "$mnt"; then umount "$mnt" 2>/dev/null || umount -l "$mnt"; fi
  if mountpoint -q "$xfs"; then umount "$xfs" 2>/dev/null || umount -l "$xfs"; fi
  [[ -n "$loopdev" ]] && losetup -d "$loopdev" 2>/dev/null
  rm -f "$image"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work" "$xfs" "$mnt"
cleanup  # leftovers of an interrupted run
# Room for the lower plus a full (unshared) copy, for an implementation that cannot clone.
truncate -s $(( (size_mib * 2 + 1024) ))M "$image" || die "cannot create $image"
loopdev=$(losetup -f --show "$image") || die "losetup failed"
mkfs.xfs -q -f -m reflink=1 "$loopdev" || die "mkfs.xfs failed"
mount "$loopdev" "$xfs" || die "cannot mount the XFS image"
mkdir -p "$xfs/lower"
echo "writing a ${size_mib} MiB lower file on XFS (reflink=1, $loopdev)..." >&2
head -c "${size_mib}M" /dev/urandom >"$xfs/lower/big.bin" || die "cannot write the lower file"
sync


# Mounts implementation $1 over $xfs/lower with a fresh upper on the XFS.
mount_impl() {
  rm -rf "$xfs/upper" "$xfs/work"
  mkdir -p "$xfs/upper" "$xfs/work"
  local opts="lowerdir=$xfs/lower,upperdir=$xfs/upper,workdir=$xfs/work"
  case "$1" in
    kernel) mount -t overlay overlay -o "$opts" "$mnt" ;;
    stratafs) "$stratafs" "$mnt" -o "$opts" ;;
    fuse-overlayfs) "$fuse_overlayfs" -o "$opts" "$mnt" ;;
  esac
}

unmount_impl() {
  umount "$mnt" 2>/dev/null || umount -l "$mnt"
  # A FUSE daemon exits after the unmount; wait (bounded) so it is gone before the next mount.
  for _ in $(seq 100); do mountpoint -q "$mnt" || break; sleep 0.05; done
}

declare -A times shared
for ((r = 1; r <= runs; r++)); do
  for impl in "${impls[@]}"; do
    mount_impl "$impl" || die "cannot mount $impl"
    sync
    # $EPOCHREALTIME, not $(date): a fork would add ~1 ms of noise to a ~1 ms figure.
    t0=${EPOCHREALTIME/./}
    printf x >>"$mnt/big.bin" || { unmount_impl; die "append failed on $impl"; }
    t1=${EPOCHREALTIME/./}
    unmount_impl
    size=$(stat -c %s "$xfs/upper/big.bin")
    [[ $size -eq $(( size_mib * 1024 * 1024 + 1 )) ]] || die "$impl: upper file has size $size"
    # Extents the copy shares with the lower: FICLONE worked.
    if filefrag -v "$xfs/upper/big.bin" | grep -q shared; then shared[$impl]=yes; else shared[$impl]=no; fi
    times[$impl]+="$(( t1 - t0 )) "
    echo "run $r $impl: $(( t1 - t0 )) us" >&2
  done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
minmax() { tr ' ' '\n' | grep . | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {print lo "-" hi}'; }
ms() { awk -v u="$1" 'BEGIN {printf "%.2f", u / 1000}'; }

kmed=$(echo "${times[kernel]}" | median)
echo
echo "1-byte append to a ${size_mib} MiB lower file (full copy-up), XFS reflink=1 loop image, $runs runs"
echo "$(uname -r), $(mkfs.xfs -V | head -1), stratafs $stratafs"
echo
echo "| implementation | median (ms) | min-max (ms) | ÷ kernel | extents shared with the lower |"
echo "|---|---:|---:|---:|---|"
for impl in "${impls[@]}"; do
  med=$(echo "${times[$impl]}" | median)
  read -r lo hi < <(echo "${times[$impl]}" | minmax | tr '-' ' ')
  ratio=$(awk -v a="$med" -v b="$kmed" 'BEGIN {printf "%.2f", a / b}')
  echo "| $impl | $(ms "$med") | $(ms "$lo")-$(ms "$hi") | $ratio | ${shared[$impl]} |"
done
