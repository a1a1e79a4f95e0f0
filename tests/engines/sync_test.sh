#!/usr/bin/env bash
# Issue 6.6: by default a copy-up is made durable and an application's fsync
# reaches the upper; with `volatile` or `fsync=0` the daemon skips every sync
# (as kernel overlayfs' volatile does). Observed with strace on the daemon run
# in the foreground: the fsync-family calls it makes for one workload.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
eng_init sync
command -v strace >/dev/null || eng_skip "strace is not installed (apt-get install strace)"
T=$ENG_TMP
mkdir -p "$T/lower/dir"
for i in 1 2 3; do echo "lower $i" > "$T/lower/dir/f$i"; done

syncs='fsync,fdatasync,syncfs,sync,sync_file_range'
# count_syncs OPTIONS WORKLOAD: number of sync calls the daemon made.
count_syncs() {
  local opts=$1 workload=$2 run=$T/run-$RANDOM
  mkdir -p "$run"/{upper,work,mnt}
  strace -f -qq -e trace="$syncs" -o "$run/strace" \
    "$STRATAFS" -f "$run/mnt" -o "lowerdir=$T/lower,upperdir=$run/upper,workdir=$run/work$opts" 2>"$run/daemon.log" &
  local pid=$!
  eng_wait_mounted "$run/mnt" fuse.stratafs || { cat "$run/daemon.log" >&2; eng_fail "mount ($opts) not live"; }
  (cd "$run/mnt" && eval "$workload") || eng_fail "workload failed: $workload"
  umount "$run/mnt" || eng_fail "umount"
  timeout 20 tail --pid="$pid" -f /dev/null || eng_fail "daemon did not exit after umount"
  wait "$pid"
  grep -cE "^[0-9]+ +($(echo "$syncs" | tr , '|'))\(" "$run/strace"
}
copy_up='echo more >> dir/f1 && chmod 600 dir/f2'
app_fsync='dd if=/dev/zero of=new bs=4096 count=4 conv=fsync 2>/dev/null && sync -d new 2>/dev/null || true'

n=$(count_syncs "" "$copy_up");           echo "default, copy-ups:      $n sync calls"; [ "$n" -gt 0 ] || eng_fail "default: copy-up is not made durable (no fsync)"
n=$(count_syncs "" "$app_fsync");         echo "default, app fsync:     $n sync calls"; [ "$n" -gt 0 ] || eng_fail "default: fsync not passed to the upper"
for o in ",volatile" ",,volatile" ",fsync=0"; do
  n=$(count_syncs "$o" "$copy_up");       echo "$o, copy-ups:   $n sync calls"; [ "$n" -eq 0 ] || eng_fail "$o: copy-up still syncs ($n calls)"
  n=$(count_syncs "$o" "$app_fsync");     echo "$o, app fsync:  $n sync calls"; [ "$n" -eq 0 ] || eng_fail "$o: fsync still reaches the disk ($n calls)"
done
n=$(count_syncs ",fsync=1" "$copy_up");   echo "fsync=1, copy-ups:      $n sync calls"; [ "$n" -gt 0 ] || eng_fail "fsync=1: copy-up not durable"
echo "sync: durable by default, no syncs with volatile/fsync=0"
