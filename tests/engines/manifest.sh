# Prints what a container sees under /data, in a stable order: one line per
# entry (type, mode, links, size, owner, sparse or not, content digest), then
# facts that need two entries (hard links share an inode). Runs inside the
# container (busybox sh), so only busybox applets are used.
cd /data || exit 1
find . | LC_ALL=C sort | while read -r p; do
  set -- $(stat -c '%F|%a|%h|%s|%u:%g|%b|%B' "$p" | tr ' |' '_ ')
  kind=$1 mode=$2 links=$3 size=$4 owner=$5 blocks=$6 bsize=$7
  [ "$kind" = directory ] && links=-   # directory link counts differ by design
  sum=-; sparse=-
  if [ "$kind" = regular_file ] || [ "$kind" = regular_empty_file ]; then
    sum=$(sha256sum < "$p" | cut -c1-16)
    [ $((blocks * bsize)) -lt $((size / 2)) ] && sparse=sparse || sparse=dense
  fi
  echo "$p $kind $mode $links $size $owner $sparse $sum"
done
# Hard-link groups: names that share one inode.
find . -type f -links +1 | LC_ALL=C sort | while read -r p; do echo "$(stat -c %i "$p") $p"; done |
  awk '{ g[$1] = g[$1] " " $2 } END { for (i in g) print "hardlinks:" g[i] }' | LC_ALL=C sort
