#!/usr/bin/env bash
# Issue 6.1: podman/buildah with stratafs as containers-storage's
# mount_program. Runs tests/engines/podman_scenario.sh twice, first with
# podman's native overlay driver (kernel overlayfs: the oracle), then with
# mount_program = $STRATAFS, and compares what the containers saw.
#
# Where the answers legitimately differ: with a mount_program,
# containers-storage computes each layer's diff by walking the mounted layer
# against its parent ("naive diff") instead of reading the upper directory.
# That diff does not record a new hard link to an unchanged file, so link
# counts in images built or committed that way differ, and `podman diff`
# reports directory-level changes instead of the opaque-directory form. For
# those answers (image.txt/committed.txt link counts, diff.txt) the test
# compares against the exact answers expected from a naive diff, written below.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
eng_init podman
for tool in podman runc; do
  command -v "$tool" >/dev/null || eng_skip "$tool is not installed (tools/install-deps.sh installs podman and runc)"
done

timeout 300 "$here/podman_scenario.sh" kernel "" "$ENG_TMP/ans-kernel" "$ENG_TMP" || eng_fail "scenario on kernel overlay (oracle) failed"
timeout 300 "$here/podman_scenario.sh" stratafs "$STRATAFS" "$ENG_TMP/ans-strata" "$ENG_TMP" || eng_fail "scenario on stratafs failed"
k="$ENG_TMP/ans-kernel" s="$ENG_TMP/ans-strata"
echo "scenario wall time: kernel overlay $(cat "$k/seconds")s, stratafs $(cat "$s/seconds")s"

failures=0
check() {  # check WHAT EXPECTED-FILE ACTUAL-FILE
  if ! diff -u "$2" "$3" >&2; then echo "MISMATCH in $1 (- expected, + stratafs)" >&2; failures=$((failures + 1)); fi
}

# The oracle itself must show the scenario's point, else the comparison says nothing.
grep -q '^./tree/new ' "$k/image.txt" && ! grep -q '^./tree/b ' "$k/image.txt" || eng_fail "oracle: re-created directory"
grep -q '^./suid-script regular_file 6755 ' "$k/image.txt" || eng_fail "oracle: setuid script"
grep -q '^./suid-later regular_file 4755 ' "$k/image.txt" || eng_fail "oracle: chmod u+s"
grep -q '^./sgid-dir/child directory 2755 - [0-9]* 0:5 ' "$k/image.txt" || eng_fail "oracle: setgid inheritance"

# Containers running on the built image: exactly what the kernel shows.
check "run.txt (container changing lower files)" "$k/run.txt" "$s/run.txt"
check "isolation.txt (two containers at once)" "$k/isolation.txt" "$s/isolation.txt"

# Built and committed images: everything but link counts as the kernel shows,
# link counts and hard-link groups as a naive diff makes them.
mask_links() { awk '$1 ~ /^\.\// { $4 = "N" } !/^hardlinks:/' "$1"; }
mask_links "$k/image.txt" > "$ENG_TMP/k-image" && mask_links "$s/image.txt" > "$ENG_TMP/s-image"
check "image.txt (built image, link counts masked)" "$ENG_TMP/k-image" "$ENG_TMP/s-image"
mask_links "$k/committed.txt" > "$ENG_TMP/k-committed" && mask_links "$s/committed.txt" > "$ENG_TMP/s-committed"
check "committed.txt (committed image, link counts masked)" "$ENG_TMP/k-committed" "$ENG_TMP/s-committed"
printf '%s\n' 'hardlinks: ./keep ./keep-link' > "$ENG_TMP/links-expected"
grep '^hardlinks:' "$s/image.txt" > "$ENG_TMP/links-image"
check "hard links in the built image" "$ENG_TMP/links-expected" "$ENG_TMP/links-image"
grep '^hardlinks:' "$s/committed.txt" > "$ENG_TMP/links-committed"
check "hard links in the committed image" "$ENG_TMP/links-expected" "$ENG_TMP/links-committed"

# podman diff of the container: naive-diff form of the same changes.
cat > "$ENG_TMP/diff-expected" <<'DIFF'
A /data/added
A /data/del-later/h
A /data/gone/z
A /data/newdir
A /data/newdir/deep
A /data/newdir/deep/f
A /data/suid-hard
C /data
C /data/big
C /data/del-later
C /data/gone
C /data/mv-file.renamed
C /data/sgid-dir
C /data/tree/new
C /etc
D /data/del-later/g
D /data/gone/y
D /data/link-src
D /data/mv-dir.renamed
DIFF
if grep -qx 'C /data/tree' "$s/diff.txt"; then
  # Writing /data/tree/new copies it up; the copy-up changes the upper parent
  # directory's mtime, which kernel overlayfs restores and stratafs does not.
  eng_known_bug "copy-up changes the parent directory's mtime (podman diff lists 'C /data/tree')"
  grep -vx 'C /data/tree' "$s/diff.txt" > "$ENG_TMP/s-diff"
else
  cp "$s/diff.txt" "$ENG_TMP/s-diff"
fi
check "podman diff" "$ENG_TMP/diff-expected" "$ENG_TMP/s-diff"

# containers-storage really ran stratafs, in the form DESIGN.md §1 names.
grep -q ',,volatile ' "$s/calls.txt" || { echo "no ',,volatile' mount in $s/calls.txt" >&2; failures=$((failures + 1)); }
echo "containers-storage ran the mount program $(wc -l < "$s/calls.txt") times"

# No mount and no daemon may outlive the containers and images.
for a in "$k" "$s"; do
  [ -s "$a/leftover-mounts.txt" ] && { cat "$a/leftover-mounts.txt" >&2; failures=$((failures + 1)); echo "MOUNTS LEFT BEHIND ($a)" >&2; }
  [ -s "$a/leftover-daemons.txt" ] && { cat "$a/leftover-daemons.txt" >&2; failures=$((failures + 1)); echo "DAEMONS LEFT BEHIND ($a)" >&2; }
done
[ "$failures" -eq 0 ] || eng_fail "$failures check(s) failed"
echo "podman scenario: stratafs answers match kernel overlayfs"
