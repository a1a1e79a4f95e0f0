#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a mounted demo layer stack:
# installs what is missing, builds strata, makes three small layers and mounts
# them with a writable upper layer.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
demo=${STRATA_DEMO_DIR:-/tmp/strata-demo}

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (sudo $0): mounting with allow_other and making whiteouts needs it" >&2
  exit 1
fi
"$top/tools/install-deps.sh"
[ -f "$top/build/build.ninja" ] || meson setup "$top/build" >/dev/null
ninja -C "$top/build" -j"$(nproc)" >/dev/null
echo "demo: built $top/build/fs/stratafs and $top/build/tools/strata"

if mountpoint -q "$demo/merged" 2>/dev/null; then umount "$demo/merged"; fi
rm -rf "$demo"
mkdir -p "$demo"/{base,app,config,upper,work,merged}
# base: a tiny rootfs made of busybox
mkdir -p "$demo/base"/{bin,etc,tmp,usr/share/doc}
cp /bin/busybox "$demo/base/bin/busybox"
for a in sh ls cat echo mkdir rm mv cp; do ln -s busybox "$demo/base/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$demo/base/etc/passwd"
printf 'base layer\n' > "$demo/base/etc/motd"
printf 'welcome to strata\n' > "$demo/base/usr/share/doc/README"
mkdir -p "$demo/base/var/cache" && printf 'stale\n' > "$demo/base/var/cache/old.bin"
# app: adds files, changes motd, deletes the cache (a kernel-format whiteout)
mkdir -p "$demo/app"/{etc,opt/app,var/cache}
printf 'app layer\n' > "$demo/app/etc/motd"
printf '#!/bin/sh\necho hello from the app layer\n' > "$demo/app/opt/app/run.sh"
chmod 755 "$demo/app/opt/app/run.sh"
mknod "$demo/app/var/cache/old.bin" c 0 0
# config: an opaque /etc/app directory replaces whatever was below
mkdir -p "$demo/config/etc/app"
setfattr -n trusted.overlay.opaque -v y "$demo/config/etc/app"
printf 'debug=false\n' > "$demo/config/etc/app/app.conf"

"$top/build/fs/stratafs" "$demo/merged" \
  -o "lowerdir=$demo/config:$demo/app:$demo/base,upperdir=$demo/upper,workdir=$demo/work"

cat <<EOT
demo: mounted at $demo/merged (layers: config on app on base, upper $demo/upper)

Try:
  ls -l $demo/merged $demo/merged/etc
  cat $demo/merged/etc/motd                       # the app layer shadows base
  ls $demo/merged/var/cache                       # old.bin is whited out
  echo hi >> $demo/merged/etc/motd; ls -l $demo/upper/etc   # copy-up
  rm $demo/merged/usr/share/doc/README; ls -l $demo/upper/usr/share/doc  # a whiteout
  chroot $demo/merged /bin/sh -c 'ls /; /opt/app/run.sh'
  $top/build/tools/strata which --lower $demo/config:$demo/app:$demo/base --upper $demo/upper /etc/motd
  umount $demo/merged                             # when done
EOT
