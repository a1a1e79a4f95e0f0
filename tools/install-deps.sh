#!/usr/bin/env bash
# Installs the Debian packages strata builds and tests with (Debian 12).
set -euo pipefail
packages=(
  build-essential meson ninja-build pkg-config
  libfuse3-dev fuse3 libxxhash-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libarchive-dev
  busybox-static attr fuse-overlayfs xfsprogs python3
  podman runc strace clang libclang-rt-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "strata: all build and test packages are installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "strata: missing packages: ${missing[*]} — run as root (sudo) to install them" >&2
  exit 1
fi
echo "strata: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
