#!/usr/bin/env bash
# The podman scenario of issue 6, for one storage back end:
#   podman_scenario.sh LABEL MOUNT_PROGRAM|"" ANSWERS_DIR WORK_DIR
# With an empty MOUNT_PROGRAM podman's overlay driver uses kernel overlayfs
# (the oracle); otherwise containers-storage runs MOUNT_PROGRAM for every
# layer mount. Writes what the containers saw to ANSWERS_DIR (image.txt,
# diff.txt, committed.txt, run.txt) and the scenario's wall time in seconds to
# ANSWERS_DIR/seconds. Uses private storage under WORK_DIR and removes every
# container, image, mount and storage directory before it returns.
set -uo pipefail
label=$1 mount_program=$2 answers=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "FAIL[$label]: $*" >&2; exit 1; }

for tool in podman runc; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (apt-get install podman runc)" >&2; exit 77; }
done

store="$work/$label"
mkdir -p "$store"/{root,run,tmp} "$answers" || fail "mkdir"
if [ -n "$mount_program" ]; then
  # Record how containers-storage calls the mount program (answers/calls.txt).
  printf '#!/bin/sh\necho "$*" >> "%s"\nexec "%s" "$@"\n' "$answers/calls.txt" "$mount_program" > "$store/mount-program"
  chmod 755 "$store/mount-program"
  mount_program=$store/mount-program
fi
{
  echo '[storage]'
  echo 'driver = "overlay"'
  echo "graphroot = \"$store/root\""
  echo "runroot = \"$store/run\""
  echo '[storage.options.overlay]'
  [ -n "$mount_program" ] && echo "mount_program = \"$mount_program\""
} > "$store/storage.conf"
cat > "$store/containers.conf" <<CONF
[containers]
netns = "none"
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$store/events.log"
tmp_dir = "$store/tmp"
CONF
export CONTAINERS_STORAGE_CONF="$store/storage.conf" CONTAINERS_CONF="$store/containers.conf"
# The flags the hints call for, explicit on every call as well.
pod() { podman --runtime runc --cgroup-manager cgroupfs "$@"; }
run_flags=(--network none --ulimit nofile=4096:4096 --ulimit nproc=4096:4096)

teardown() {
  pod rm -a -f >/dev/null 2>&1
  pod rmi -a -f >/dev/null 2>&1
  pod system reset -f >/dev/null 2>&1
  local m
  for m in $(awk -v p="$store" 'index($5, p "/") == 1 || $5 == p { print $5 }' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
  rm -rf "$store"
}
trap teardown EXIT

# Base image: busybox rootfs plus the manifest script, imported from a tarball.
. "$here/lib.sh"
rootfs="$store/rootfs"
eng_make_busybox_rootfs "$rootfs" || fail "rootfs"
mkdir -p "$rootfs/usr/local/bin"
cp "$here/manifest.sh" "$rootfs/usr/local/bin/manifest" && chmod 755 "$rootfs/usr/local/bin/manifest"
tar -C "$rootfs" --numeric-owner -cf "$store/base.tar" . || fail "tar"

start=$(date +%s.%N)
pod import -q "$store/base.tar" localhost/strata-eng/base:1 >/dev/null || fail "podman import"
pod build --pull=never --network none --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
  -f "$here/Containerfile.scenario" -t localhost/strata-eng/scenario:1 "$store" \
  > "$store/build.log" 2>&1 || { cat "$store/build.log" >&2; fail "podman build"; }

pod run --rm "${run_flags[@]}" localhost/strata-eng/scenario:1 sh /usr/local/bin/manifest \
  > "$answers/image.txt" || fail "run manifest"

# A container that changes lower files and directories, then diff and commit.
pod run --name strata-eng-c1 "${run_flags[@]}" localhost/strata-eng/scenario:1 sh -c '
  set -e
  rm /data/link-src
  echo changed > /data/tree/new
  echo added > /data/added
  mkdir -p /data/newdir/deep && echo d > /data/newdir/deep/f
  rm -rf /data/mv-dir.renamed
  chmod 700 /data/sgid-dir
  mv /data/gone/y /data/gone/z
  rm -rf /data/del-later && mkdir /data/del-later && echo h > /data/del-later/h
  chmod u+s /data/mv-file.renamed
  echo appended >> /data/big
  ln /data/suid-tool /data/suid-hard
  sh /usr/local/bin/manifest' > "$answers/run.txt" || fail "run c1"
pod diff strata-eng-c1 | LC_ALL=C sort > "$answers/diff.txt" || fail "podman diff"
pod commit -q strata-eng-c1 localhost/strata-eng/committed:1 >/dev/null || fail "podman commit"
pod rm strata-eng-c1 >/dev/null || fail "podman rm"
pod run --rm "${run_flags[@]}" localhost/strata-eng/committed:1 sh /usr/local/bin/manifest \
  > "$answers/committed.txt" || fail "run committed"

# Two containers of the same image at once: neither sees the other's writes.
pod run -d --name strata-eng-a "${run_flags[@]}" localhost/strata-eng/scenario:1 sh -c 'echo a > /data/only-a; sleep 60' >/dev/null || fail "run a"
pod run -d --name strata-eng-b "${run_flags[@]}" localhost/strata-eng/scenario:1 sh -c 'echo b > /data/only-b; sleep 60' >/dev/null || fail "run b"
for c in a b; do
  for i in $(seq 1 100); do pod exec strata-eng-$c test -e /data/only-$c 2>/dev/null && break; sleep 0.1; done
done
pod exec strata-eng-a ls /data/only-a /data/only-b > "$answers/isolation.txt" 2>&1
pod exec strata-eng-b ls /data/only-a /data/only-b >> "$answers/isolation.txt" 2>&1
sed -i 's/^ls: //' "$answers/isolation.txt" && LC_ALL=C sort -o "$answers/isolation.txt" "$answers/isolation.txt"
pod rm -f -t 0 strata-eng-a strata-eng-b >/dev/null || fail "rm a b"
pod rmi localhost/strata-eng/committed:1 localhost/strata-eng/scenario:1 localhost/strata-eng/base:1 >/dev/null || fail "podman rmi"
end=$(date +%s.%N)
awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f\n", b - a }' > "$answers/seconds"

# Nothing may stay mounted once every container and image is gone. conmon
# and podman's "container cleanup" exit asynchronously after `rm -f`: give
# every process still naming this storage a bounded time to end first.
for i in $(seq 1 300); do pgrep -f "$store" >/dev/null || break; sleep 0.1; done
awk -v p="$store" 'index($5, p "/") == 1 { print $5 " " $0 }' /proc/self/mountinfo > "$answers/leftover-mounts.txt"
pgrep -af "$store" > "$answers/leftover-daemons.txt"
exit 0
