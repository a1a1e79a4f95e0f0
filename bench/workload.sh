#!/usr/bin/env bash
# Workload benchmark of issue 3: kernel overlayfs, fuse-overlayfs and stratafs
# mounted in turn over the same generated layer stack, each workload run
# several times, reported as medians and as ratios to kernel overlayfs.
#
# Needs root (mount, drop_caches). Generates its data once under the work dir
# (default /var/tmp/strata-bench) and reuses it; see bench/README.md.
set -u -o pipefail

readonly kScriptDir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly kRepo="$(cd "$kScriptDir/.." && pwd)"
readonly kAllImpls="kernel,fuse-overlayfs,stratafs"
# Bumped whenever the generated layout changes, so old data is regenerated.
readonly kLayoutVersion=3

# Workloads, in the order of issue 3's table. Each has a label, a goal
# (stratafs / kernel), and functions wl_NAME_run plus optional
# wl_NAME_setup (untimed, after a fresh mount) and wl_NAME_prewarm (untimed,
# once before the first run, on the lowers themselves).
readonly kWorkloads=(find_cold find_warm ls_lr tar_usr read_1g append_1g write_256m
                     untar_small rm_tree mv_tree chmod_small)
declare -A kLabel=(
  [find_cold]='cold `find` over the mount'
  [find_warm]='warm `find`'
  [ls_lr]='`ls -lR` of /usr and /etc'
  [tar_usr]='`tar c` of /usr to /dev/null'
  [read_1g]='sequential read of the big lower file (cold)'
  [append_1g]='1-byte append to the big lower file (full copy-up)'
  [write_256m]='1 MiB writes into that file afterwards'
  [untar_small]='untar the small files into the upper'
  [rm_tree]='`rm -rf` of a large lower tree'
  [mv_tree]='`mv` of a lower directory (EXDEV fallback)'
  [chmod_small]='`chmod -R` of the small lower files'
)
declare -A kGoal=(
  [find_cold]=2.0 [find_warm]=1.5 [ls_lr]=2.0 [tar_usr]=1.3 [read_1g]=1.1 [append_1g]=1.0
  [write_256m]=1.5 [untar_small]=2.5 [rm_tree]=2.5 [mv_tree]=2.0 [chmod_small]=1.0
)
# Workloads that start from dropped caches (everything else: lowers warm,
# mount fresh).
declare -A kCold=([find_cold]=1 [read_1g]=1)

usage() {
  cat <<EOF
usage: sudo bench/workload.sh [options]
  --runs N            runs per workload and implementation (default 5)
  --only W[,W...]     only these workloads (names below, or 'memory')
  --impl I[,I...]     implementations (default $kAllImpls)
  --quick             small sizes and 1 run: a smoke run in about a minute
  --workdir DIR       data and mounts (default /var/tmp/strata-bench,
                      /var/tmp/strata-bench-quick with --quick; or \$STRATA_BENCH_DIR)
  --regen             regenerate the layer stack even if it is up to date
  --no-memory         skip the memory measure
  --upper-fs F        where the uppers live: 'image' (default), a fresh journaled
                      ext4 made for this run on a loop device; 'dir', the work
                      dir's own filesystem
  --list              list the workloads and exit
Environment: STRATAFS (default build/fs/stratafs), FUSE_OVERLAYFS (default
/usr/bin/fuse-overlayfs), STRATAFS_OPTS / FUSE_OVERLAYFS_OPTS / KERNEL_OPTS
(extra -o options for one implementation).
Workloads: ${kWorkloads[*]}
EOF
}

# ---------------------------------------------------------------- options ---

runs=5
only=""
impls="$kAllImpls"
quick=0
workdir="${STRATA_BENCH_DIR:-}"
regen=0
memory=1
upper_fs=image
runs_given=0
while (($#)); do
  case "$1" in
    --runs) runs="$2"; runs_given=1; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --impl) impls="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --workdir) workdir="$2"; shift 2 ;;
    --regen) regen=1; shift ;;
    --no-memory) memory=0; shift ;;
    --upper-fs) upper_fs="$2"; shift 2 ;;
    --list) for w in "${kWorkloads[@]}"; do printf '%-12s %s\n' "$w" "${kLabel[$w]}"; done
            printf '%-12s %s\n' memory 'daemon RSS per cached inode (find -ls, then drop_caches)'
            exit 0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "workload.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "workload.sh: --runs needs a positive number" >&2; exit 2; }
[[ "$upper_fs" == image || "$upper_fs" == dir ]] || { echo "workload.sh: --upper-fs takes image or dir" >&2; exit 2; }
if ((quick)); then
  ((runs_given)) || runs=1
  workdir="${workdir:-/var/tmp/strata-bench-quick}"
else
  workdir="${workdir:-/var/tmp/strata-bench}"
fi
STRATAFS="${STRATAFS:-$kRepo/build/fs/stratafs}"
FUSE_OVERLAYFS="${FUSE_OVERLAYFS:-/usr/bin/fuse-overlayfs}"

# Sizes. Budgets are MiB copied from this machine's /usr and /etc.
if ((quick)); then
  big_mb=64; write_mb=16; small_n=500; tree_dirs=20; tree_files=50; mem_files=10000
  budget_bin=20; budget_lib=20; budget_doc=5; budget_include=5
else
  big_mb=1024; write_mb=256; small_n=5000; tree_dirs=100; tree_files=100; mem_files=100000
  budget_bin=400; budget_lib=400; budget_doc=200; budget_include=200
fi
kLabel[write_256m]="${write_mb} MiB of 1 MiB writes into that file afterwards"
kLabel[read_1g]="sequential read of a ${big_mb} MiB lower file (cold)"
kLabel[append_1g]="1-byte append to the ${big_mb} MiB lower file (full copy-up)"
kLabel[untar_small]="untar ${small_n} small files into the upper"
kLabel[chmod_small]="\`chmod -R\` of ${small_n} lower files"
kLabel[rm_tree]="\`rm -rf\` of a lower tree ($((tree_dirs * tree_files)) files, 2 layers)"
kLabel[mv_tree]="\`mv\` of that lower tree (EXDEV fallback)"

IFS=, read -ra impl_list <<<"$impls"
for i in "${impl_list[@]}"; do
  case "$i" in
    kernel) ;;
    fuse-overlayfs) [[ -x "$FUSE_OVERLAYFS" ]] || { echo "workload.sh: $FUSE_OVERLAYFS not found (apt-get install fuse-overlayfs)" >&2; exit 2; } ;;
    stratafs) [[ -x "$STRATAFS" ]] || { echo "workload.sh: $STRATAFS not found (build it, or set STRATAFS=)" >&2; exit 2; } ;;
    *) echo "workload.sh: unknown implementation '$i' (kernel, fuse-overlayfs, stratafs)" >&2; exit 2 ;;
  esac
done

selected=()
run_memory=$memory
if [[ -n "$only" ]]; then
  run_memory=0
  IFS=, read -ra only_list <<<"$only"
  for w in "${only_list[@]}"; do
    if [[ "$w" == memory ]]; then run_memory=$memory; continue; fi
    [[ -n "${kLabel[$w]:-}" ]] || { echo "workload.sh: unknown workload '$w' (see --list)" >&2; exit 2; }
    selected+=("$w")
  done
else
  selected=("${kWorkloads[@]}")
fi

if ((EUID != 0)); then
  echo "workload.sh: needs root (mount, /proc/sys/vm/drop_caches)" >&2
  exit 2
fi

readonly D="$workdir"
readonly M="$D/mnt"
# Each mount's upper and work dir, under $RUN_FS (a filesystem of their own
# with --upper-fs image).
readonly RUN_FS="$D/run"
readonly RUN_UPPER="$RUN_FS/x/upper"
readonly RUN_WORK="$RUN_FS/x/work"
readonly LOWERS="$D/layers/l1:$D/layers/l2:$D/layers/l3"

log() { printf '%s\n' "$*" >&2; }
die() { log "workload.sh: $*"; exit 1; }

# --------------------------------------------------------------- cleanup ---

# Mount points of ours (anything at or below the work dir), deepest first.
our_mounts() {
  awk -v d="$D" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

# Unmounts one mount point: politely, then by aborting a stuck FUSE
# connection, then lazily.
force_unmount() {
  local mnt="$1" dev minor
  umount "$mnt" 2>/dev/null && return 0
  for _ in 1 2 3 4 5; do
    sleep 0.2
    umount "$mnt" 2>/dev/null && return 0
  done
  dev=$(awk -v m="$mnt" '$5 == m { print $3; exit }' /proc/self/mountinfo)
  minor="${dev#*:}"
  if [[ -n "$minor" && -e "/sys/fs/fuse/connections/$minor/abort" ]]; then
    echo 1 >"/sys/fs/fuse/connections/$minor/abort" 2>/dev/null
  fi
  umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
}

cleanup() {
  local m
  while read -r m; do
    [[ -n "$m" ]] && force_unmount "$m"
  done < <(our_mounts)
  if [[ -n "$(our_mounts)" ]]; then
    log "workload.sh: could not unmount: $(our_mounts | tr '\n' ' ')"
  fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'exit 143' TERM

# -------------------------------------------------------------- generation ---

# Copies the tree SRC to DEST, keeping every directory and symlink but regular
# files only up to BUDGET MiB in all (smallest paths first, in name order).
copy_budget() {
  local src="$1" dest="$2" budget_mb="$3" list
  list=$(mktemp)
  ( cd "$src" && find . \( -path './shadow*' -o -path './gshadow*' -o -path './ssh/*key*' \
                           -o -path './ssl/private' \) -prune -o -printf '%y %s %p\n' ) |
    sort -k3 |
    awk -v budget=$((budget_mb * 1048576)) '
      $1 == "f" { if (used + $2 > budget) next; used += $2 }
      $1 == "f" || $1 == "d" || $1 == "l" { sub(/^[^ ]+ [^ ]+ /, ""); print }' >"$list"
  mkdir -p "$dest"
  tar -C "$src" --no-recursion -cf - -T "$list" 2>/dev/null | tar -C "$dest" -xpf - 2>/dev/null
  rm -f "$list"
}

# Writes COUNT files of a few hundred bytes to KiB (builtins only: no fork per file).
make_files() {
  local dir="$1" prefix="$2" first="$3" count="$4" i payload name
  payload=$(head -c 3000 /dev/urandom | base64 -w 0)
  for ((i = first; i < first + count; i++)); do
    printf -v name '%s%05d' "$prefix" "$i"
    printf '%s' "${payload:0:$((200 + (i * 37) % 2800))}" >"$dir/$name"
  done
}

generate() {
  local stamp="v$kLayoutVersion big=$big_mb small=$small_n tree=${tree_dirs}x$tree_files mem=$mem_files"
  stamp+=" budgets=$budget_bin/$budget_lib/$budget_doc/$budget_include"
  if ((!regen)) && [[ -f "$D/layers/.stamp" && "$(cat "$D/layers/.stamp")" == "$stamp" ]]; then
    return 0
  fi
  log "generating the layer stack in $D (once) ..."
  local t0=$EPOCHREALTIME L="$D/layers" d i
  rm -rf "$L"
  mkdir -p "$L"/{l1,l2,l3,upper-template,data,mem-lower} || die "cannot create $L"

  # l3, the base image: binaries, libraries, /etc.
  copy_budget /usr/bin "$L/l3/usr/bin" "$budget_bin"
  copy_budget /usr/lib/x86_64-linux-gnu "$L/l3/usr/lib/x86_64-linux-gnu" "$budget_lib"
  copy_budget /etc "$L/l3/etc" 64

  # l2, a package layer: docs and headers, overrides of some /etc files,
  # the big file, the small files, and half of the tree.
  copy_budget /usr/share/doc "$L/l2/usr/share/doc" "$budget_doc"
  copy_budget /usr/include "$L/l2/usr/include" "$budget_include"
  mkdir -p "$L/l2/etc"
  for f in hostname hosts passwd group os-release; do
    [[ -e "$L/l3/etc/$f" ]] && echo "# overridden by l2" >"$L/l2/etc/$f"
  done
  mkdir -p "$L/l2/big"
  head -c $((big_mb * 1048576)) /dev/urandom >"$L/l2/big/big.bin" || die "cannot write the big file"
  for ((d = 0; d < 50; d++)); do
    mkdir -p "$L/l2/small/d$d"
    make_files "$L/l2/small/d$d" f $((d * small_n / 50)) $((small_n / 50))
  done
  chmod -R u=rwX,go=rX "$L/l2/small"
  # l1 and l2 each give half of every tree directory: all of them merge.
  for ((d = 0; d < tree_dirs; d++)); do
    mkdir -p "$L/l1/tree/d$d" "$L/l2/tree/d$d"
    make_files "$L/l1/tree/d$d" f 0 $((tree_files / 2))
    make_files "$L/l2/tree/d$d" f $((tree_files / 2)) $((tree_files - tree_files / 2))
  done

  # l1, the top image layer: whiteouts of a few base files and an opaque dir.
  mkdir -p "$L/l1/usr/bin" "$L/l1/etc"
  i=0
  for f in "$L"/l3/usr/bin/*; do
    [[ -f "$f" ]] || continue
    mknod "$L/l1/usr/bin/${f##*/}" c 0 0
    ((++i >= 10)) && break
  done
  if [[ -d "$L/l3/etc/default" ]]; then
    mkdir -p "$L/l1/etc/default"
    setfattr -n trusted.overlay.opaque -v y "$L/l1/etc/default"
    echo "only file of an opaque dir" >"$L/l1/etc/default/bench"
  fi

  # The upper every run starts from: a file, a whiteout, an opaque dir.
  mkdir -p "$L/upper-template/etc" "$L/upper-template/usr/share/doc"
  echo "written in the upper" >"$L/upper-template/etc/bench-upper.conf"
  mknod "$L/upper-template/etc/hostname" c 0 0
  mkdir -p "$L/upper-template/usr/share/doc/strata-bench"
  setfattr -n trusted.overlay.opaque -v y "$L/upper-template/usr/share/doc/strata-bench"

  # The small files again, as the tarball the untar workload extracts.
  tar -C "$L/l2" -cf "$L/data/small.tar" small

  # The memory measure's single lower: mem_files empty files in 100 dirs.
  for ((d = 0; d < 100; d++)); do
    mkdir -p "$L/mem-lower/d$d"
    for ((i = 0; i < mem_files / 100; i++)); do : >"$L/mem-lower/d$d/f$i"; done
  done

  sync
  echo "$stamp" >"$L/.stamp"
  log "generated in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s:" \
      "$(du -sh "$L" | cut -f1), $(find "$L/l1" "$L/l2" "$L/l3" | wc -l) entries in the lowers"
}

# ---------------------------------------------------------------- mounting ---

daemon_pid=""

# The FUSE daemon serving MNT: the process whose command line names MNT and
# that holds /dev/fuse open.
find_daemon() {
  local mnt="$1" p arg
  for p in /proc/[0-9]*; do
    [[ -r "$p/cmdline" ]] || continue
    while IFS= read -r -d '' arg; do
      if [[ "$arg" == "$mnt" ]]; then
        if ls -l "$p/fd" 2>/dev/null | grep -q '/dev/fuse'; then
          echo "${p#/proc/}"
          return 0
        fi
        break
      fi
    done <"$p/cmdline"
  done
  return 1
}

# Mounts IMPL at $M over LOWERS with a fresh copy of the upper template.
# Sets daemon_pid for FUSE implementations.
mount_impl() {
  local impl="$1" lowers="$2" template="$3" opts
  rm -rf "$RUN_FS/x"
  mkdir -p "$RUN_WORK" "$M"
  if [[ -n "$template" ]]; then
    cp -a "$template" "$RUN_UPPER"
  else
    mkdir -p "$RUN_UPPER"
  fi
  opts="lowerdir=$lowers,upperdir=$RUN_UPPER,workdir=$RUN_WORK"
  daemon_pid=""
  case "$impl" in
    kernel) mount -t overlay overlay -o "$opts${KERNEL_OPTS:+,$KERNEL_OPTS}" "$M" ;;
    fuse-overlayfs) "$FUSE_OVERLAYFS" -o "$opts${FUSE_OVERLAYFS_OPTS:+,$FUSE_OVERLAYFS_OPTS}" "$M" ;;
    stratafs) "$STRATAFS" -o "$opts${STRATAFS_OPTS:+,$STRATAFS_OPTS}" "$M" ;;
  esac >"$D/mount.log" 2>&1 || { log "$impl: mount failed: $(head -c 300 "$D/mount.log")"; return 1; }
  for _ in $(seq 50); do
    mountpoint -q "$M" && break
    sleep 0.1
  done
  mountpoint -q "$M" || { log "$impl: nothing mounted at $M"; return 1; }
  if [[ "$impl" != kernel ]]; then
    daemon_pid=$(find_daemon "$M") || { log "$impl: daemon of $M not found"; return 1; }
  fi
}

unmount_impl() {
  force_unmount "$M"
  if [[ -n "$daemon_pid" ]]; then
    # Let the daemon exit before the next mount so its CPU is not shared.
    for _ in $(seq 100); do
      [[ -d "/proc/$daemon_pid" ]] || break
      sleep 0.1
    done
  fi
  daemon_pid=""
  rm -rf "$RUN_FS/x"
}

# utime + stime of a process, in clock ticks.
cpu_ticks() {
  local stat rest f
  [[ -n "$1" && -r "/proc/$1/stat" ]] || { echo 0; return; }
  stat=$(<"/proc/$1/stat")
  rest="${stat##*) }"
  read -ra f <<<"$rest"
  echo $((f[11] + f[12]))
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

drop_caches() { sync; echo "$1" >/proc/sys/vm/drop_caches; }

# --------------------------------------------------------------- workloads ---

L="$D/layers"
wl_find_cold_run() { find "$M" >/dev/null; }
wl_find_warm_setup() { find "$M" >/dev/null; }
wl_find_warm_run() { find "$M" >/dev/null; }
wl_ls_lr_prewarm() { ls -lR "$L"/l{1,2,3} >/dev/null 2>&1; }
wl_ls_lr_run() { ls -lR "$M/usr" "$M/etc" >/dev/null; }
# GNU tar skips reading file data when its archive is /dev/null: go through a pipe.
wl_tar_usr_prewarm() { tar -cf - -C "$L/l3" usr -C "$L/l2" usr | cat >/dev/null; }
# Exit 1 is "file changed as we read it", which tar says of merged directories
# of kernel overlayfs; only worse is a failure.
wl_tar_usr_run() {
  tar --warning=no-file-changed -cf - -C "$M" usr | cat >/dev/null
  local rc=("${PIPESTATUS[@]}")
  ((rc[0] <= 1 && rc[1] == 0))
}
wl_read_1g_run() { dd if="$M/big/big.bin" of=/dev/null bs=1M status=none; }
wl_append_1g_prewarm() { cat "$L/l2/big/big.bin" >/dev/null; }
wl_append_1g_setup() { sync; }
wl_append_1g_run() { printf x >>"$M/big/big.bin"; }
wl_write_256m_prewarm() { cat "$L/l2/big/big.bin" >/dev/null; }
wl_write_256m_setup() { printf x >>"$M/big/big.bin" && sync; }
wl_write_256m_run() { dd if=/dev/zero of="$M/big/big.bin" bs=1M count="$write_mb" conv=notrunc status=none; }
wl_untar_small_prewarm() { cat "$L/data/small.tar" >/dev/null; }
wl_untar_small_setup() { mkdir "$M/untar"; }
wl_untar_small_run() { tar -xf "$L/data/small.tar" -C "$M/untar"; }
wl_rm_tree_prewarm() { find "$L/l1/tree" "$L/l2/tree" -type f -exec cat {} + >/dev/null; }
wl_rm_tree_run() { rm -rf "$M/tree"; }
wl_mv_tree_prewarm() { wl_rm_tree_prewarm; }
wl_mv_tree_run() { mv "$M/tree" "$M/tree.moved"; }
wl_chmod_small_prewarm() { find "$L/l2/small" -type f -exec cat {} + >/dev/null; }
wl_chmod_small_run() { chmod -R g+w "$M/small"; }

have_fn() { declare -F "$1" >/dev/null; }

# Results: res_time[W,impl] / res_cpu[W,impl] hold space-separated samples.
declare -A res_time res_cpu res_fail
readonly kTicks=$(getconf CLK_TCK)

# One timed run of workload W on IMPL, on a fresh mount. Appends the samples.
run_once() {
  local w="$1" impl="$2" c0 c1 t0 t1 rc errf
  errf="$D/err.txt"
  if ! mount_impl "$impl" "$LOWERS" "$L/upper-template"; then
    res_fail[$w,$impl]="mount failed"
    unmount_impl
    return 1
  fi
  if have_fn "wl_${w}_setup" && ! "wl_${w}_setup" 2>"$errf"; then
    res_fail[$w,$impl]="setup failed: $(head -c 200 "$errf")"
    unmount_impl
    return 1
  fi
  [[ -n "${kCold[$w]:-}" ]] && drop_caches 3
  c0=$(cpu_ticks "$daemon_pid")
  t0=$EPOCHREALTIME
  "wl_${w}_run" 2>"$errf"
  rc=$?
  t1=$EPOCHREALTIME
  c1=$(cpu_ticks "$daemon_pid")
  if ((rc != 0)); then
    res_fail[$w,$impl]="exit $rc: $(head -c 200 "$errf" | tr '\n' ' ')"
  else
    res_time[$w,$impl]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }') "
    [[ -n "$daemon_pid" ]] &&
      res_cpu[$w,$impl]+="$(awk -v a="$c0" -v b="$c1" -v t="$kTicks" 'BEGIN { printf "%.2f", (b - a) / t }') "
  fi
  # Let dirty data reach the disk before the next run, outside the timing.
  sync
  unmount_impl
  return "$rc"
}

# median / min / max of space-separated numbers ("" when none).
stat_of() {
  local what="$1"; shift
  tr ' ' '\n' <<<"$*" | awk 'NF' | sort -g | awk -v what="$what" '
    { v[NR] = $1 }
    END {
      if (NR == 0) exit
      if (what == "min") print v[1]
      else if (what == "max") print v[NR]
      else if (NR % 2) print v[(NR + 1) / 2]
      else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}
ratio() { [[ -n "$1" && -n "$2" ]] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }'; }
fmt_s() { [[ -n "$1" ]] && awk -v a="$1" 'BEGIN { printf (a < 10 ? "%.3f" : "%.1f"), a }'; }

report_workload() {
  local w="$1" impl line med k
  k=$(stat_of median ${res_time[$w,kernel]:-})
  line=$(printf '%-12s' "$w")
  for impl in "${impl_list[@]}"; do
    med=$(stat_of median ${res_time[$w,$impl]:-})
    if [[ -n "${res_fail[$w,$impl]:-}" ]]; then
      line+="  $impl FAILED (${res_fail[$w,$impl]})"
      continue
    fi
    line+="  $impl $(fmt_s "$med")s [$(fmt_s "$(stat_of min ${res_time[$w,$impl]:-})")-$(fmt_s "$(stat_of max ${res_time[$w,$impl]:-})")]"
    if [[ "$impl" != kernel ]]; then
      [[ -n "$k" ]] && line+=" $(ratio "$med" "$k")x"
      line+=" cpu $(stat_of median ${res_cpu[$w,$impl]:-})s"
    fi
  done
  echo "$line"
}

# ------------------------------------------------------------------ memory ---

declare -A mem_base mem_after mem_dropped mem_fail mem_nodes_after mem_nodes_dropped
mem_entries=0

# stratafs' own count of live nodes (trusted.strata.stats of the mount root),
# which tells forgotten inodes from memory the allocator keeps; "" elsewhere.
live_nodes() {
  [[ "$1" == stratafs ]] || return 0
  getfattr --only-values -n trusted.strata.stats "$M" 2>/dev/null |
    sed -n 's/.*"nodes":\([0-9]*\).*/\1/p'
}

# Daemon RSS before and after `find -ls` (a lookup of every entry) over a
# mem_files-file lower, and after the kernel forgets the inodes.
measure_memory() {
  local impl="$1" prev cur
  mount_impl "$impl" "$L/mem-lower" "" || { mem_fail[$impl]="mount failed"; unmount_impl; return 1; }
  mem_entries=$(find "$L/mem-lower" | wc -l)
  mem_base[$impl]=$(rss_kib "$daemon_pid")
  find "$M" -ls >/dev/null || mem_fail[$impl]="find failed"
  mem_after[$impl]=$(rss_kib "$daemon_pid")
  mem_nodes_after[$impl]=$(live_nodes "$impl")
  drop_caches 2
  # FORGETs reach the daemon asynchronously: wait until RSS stops moving.
  prev=-1
  for _ in $(seq 30); do
    sleep 0.2
    cur=$(rss_kib "$daemon_pid")
    [[ "$cur" == "$prev" ]] && break
    prev=$cur
  done
  mem_dropped[$impl]=$cur
  mem_nodes_dropped[$impl]=$(live_nodes "$impl")
  unmount_impl
}

# The uppers' filesystem. The root filesystem of the machines here is ext4
# without a journal, and such an ext4 skips, when it allocates an inode, every
# inode freed in the last 5 seconds (300 while its table block is dirty),
# reading each one's deletion time: right after a run's upper is deleted,
# creating a file in the next took ~1 ms instead of ~20 us, for kernel
# overlayfs and the daemons alike, which buried their differences on every
# workload that creates files (untar, chmod's copy-ups, rm's whiteouts, mv).
# A journaled ext4 (mkfs.ext4's default, as on most hosts) has no such check.
make_upper_fs() {
  local img="$D/upper-fs.img" size_gb=20
  ((quick)) && size_gb=4
  mountpoint -q "$RUN_FS" && force_unmount "$RUN_FS"
  rm -rf "$RUN_FS" "$img"
  mkdir -p "$RUN_FS"
  [[ "$upper_fs" == dir ]] && return 0
  truncate -s "${size_gb}G" "$img" || die "cannot make $img"
  # No lazy initialisation: it would write in the background during the runs.
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$img" || die "mkfs.ext4 $img failed"
  mount -o loop "$img" "$RUN_FS" || die "cannot mount $img (loop device)"
}

# ------------------------------------------------------------------- main ---

generate
make_upper_fs

# The tree stratafs presumably comes from; only a hint when STRATAFS points elsewhere.
tree_rev=$(git -C "$kRepo" log -1 --format=%h 2>/dev/null || echo '?')
[[ -n "$(git -C "$kRepo" status --porcelain -- fs 2>/dev/null)" ]] && tree_rev+=" + uncommitted changes in fs/"
log "work dir $D, runs $runs, implementations ${impl_list[*]}, uppers on $([[ "$upper_fs" == image ]] && echo "a fresh journaled ext4 (loop)" || echo "the work dir's filesystem")"
log "stratafs: $STRATAFS (tree at $tree_rev)"
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

for w in "${selected[@]}"; do
  have_fn "wl_${w}_prewarm" && "wl_${w}_prewarm"
  for ((r = 1; r <= runs; r++)); do
    # Implementations alternate within a run so slow phases of a shared
    # machine spread over all of them.
    for impl in "${impl_list[@]}"; do
      [[ -n "${res_fail[$w,$impl]:-}" ]] && continue
      run_once "$w" "$impl" || log "$w/$impl: ${res_fail[$w,$impl]:-failed}"
    done
  done
  report_workload "$w"
done

fuse_impls=()
for impl in "${impl_list[@]}"; do [[ "$impl" != kernel ]] && fuse_impls+=("$impl"); done
if ((run_memory)) && ((${#fuse_impls[@]})); then
  for impl in "${fuse_impls[@]}"; do
    measure_memory "$impl"
    log "memory $impl: RSS ${mem_base[$impl]:-?} KiB -> ${mem_after[$impl]:-?} KiB after find -ls of $mem_entries entries -> ${mem_dropped[$impl]:-?} KiB after drop_caches ${mem_fail[$impl]:-}"
  done
fi

# ---------------------------------------------------------------- markdown ---

has() { [[ ",$impls," == *",$1,"* ]]; }
{
  echo
  echo "### $started — $(nproc) vCPU, kernel $(uname -r), $runs runs, median wall time"
  echo
  echo "Load average before / after: $load_before / $(cut -d' ' -f1-3 /proc/loadavg)."
  if [[ "$upper_fs" == image ]]; then
    echo "Uppers on a fresh journaled ext4 (loop device); lowers on the work dir's filesystem."
  else
    echo "Uppers and lowers on the work dir's filesystem."
  fi
  [[ " ${impl_list[*]} " == *" stratafs "* ]] && echo "stratafs: \`$STRATAFS\`, tree at $tree_rev."
  [[ " ${impl_list[*]} " == *" fuse-overlayfs "* ]] &&
    echo "fuse-overlayfs: $("$FUSE_OVERLAYFS" --version 2>/dev/null | sed -n 's/^fuse-overlayfs: version //p' | head -1)."
  echo
  header="| workload |"
  sep="|---|"
  for impl in "${impl_list[@]}"; do header+=" $impl (s) |"; sep+="---:|"; done
  if has kernel; then
    for impl in "${fuse_impls[@]}"; do header+=" $impl ÷ kernel |"; sep+="---:|"; done
    has stratafs && { header+=" goal |"; sep+="---:|"; }
  fi
  for impl in "${fuse_impls[@]}"; do header+=" $impl CPU (s) |"; sep+="---:|"; done
  echo "$header"
  echo "$sep"
  for w in "${selected[@]}"; do
    row="| ${kLabel[$w]} |"
    k=$(stat_of median ${res_time[$w,kernel]:-})
    for impl in "${impl_list[@]}"; do
      if [[ -n "${res_fail[$w,$impl]:-}" ]]; then row+=" fail |"; else row+=" $(fmt_s "$(stat_of median ${res_time[$w,$impl]:-})") |"; fi
    done
    if has kernel; then
      for impl in "${fuse_impls[@]}"; do
        if [[ -n "${res_fail[$w,$impl]:-}" ]]; then row+=" — |"; else row+=" $(ratio "$(stat_of median ${res_time[$w,$impl]:-})" "$k") |"; fi
      done
      has stratafs && row+=" ≤ ${kGoal[$w]} |"
    fi
    for impl in "${fuse_impls[@]}"; do row+=" $(stat_of median ${res_cpu[$w,$impl]:-}) |"; done
    echo "$row"
  done
  if ((run_memory)) && ((${#fuse_impls[@]})); then
    echo
    echo "Daemon memory, \`find -ls\` over $mem_entries entries then \`echo 2 > /proc/sys/vm/drop_caches\`:"
    echo
    echo "| implementation | RSS before (KiB) | after find (KiB) | bytes per cached inode | after drop_caches (KiB) | live nodes after find / after drop |"
    echo "|---|---:|---:|---:|---:|---:|"
    for impl in "${fuse_impls[@]}"; do
      if [[ -n "${mem_fail[$impl]:-}" ]]; then echo "| $impl | ${mem_fail[$impl]} | | | | |"; continue; fi
      per=$(awk -v a="${mem_base[$impl]}" -v b="${mem_after[$impl]}" -v n="$mem_entries" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
      nodes="${mem_nodes_after[$impl]:-}"
      [[ -n "$nodes" ]] && nodes+=" / ${mem_nodes_dropped[$impl]:-?}"
      echo "| $impl | ${mem_base[$impl]} | ${mem_after[$impl]} | $per | ${mem_dropped[$impl]} | ${nodes:-n/a} |"
    done
  fi
  echo
  cmd="sudo"
  [[ " ${impl_list[*]} " == *" stratafs "* ]] && cmd+=" STRATAFS=${STRATAFS#"$kRepo"/}"
  cmd+=" bench/workload.sh --runs $runs"
  ((quick)) && cmd+=" --quick"
  [[ "$upper_fs" != image ]] && cmd+=" --upper-fs $upper_fs"
  [[ -n "$only" ]] && cmd+=" --only $only"
  [[ "$impls" != "$kAllImpls" ]] && cmd+=" --impl $impls"
  echo "Command: \`$cmd\`"
} | tee "$D/results-$(date -u +%Y%m%dT%H%M%S).md"
