#!/usr/bin/env bash
# Builds the kernel's own dm-clone (Debian's kernel leaves CONFIG_DM_CLONE unset) out of tree
# for the guest's kernel: linux-source-6.1 for the code, linux-headers and linux-kbuild for the
# build, all fetched with apt-get download and unpacked under CACHE (nothing installed). Prints
# the path of dm-clone.ko.
set -euo pipefail
cache="${1:?usage: build-dm-clone.sh CACHE KERNEL_VERSION}"
kver="${2:?usage: build-dm-clone.sh CACHE KERNEL_VERSION}"
command -v make >/dev/null || { echo "build-dm-clone.sh: make is missing (apt-get install make)" >&2; exit 3; }
command -v gcc-12 >/dev/null || { echo "build-dm-clone.sh: gcc-12 is missing (apt-get install gcc-12)" >&2; exit 3; }
out="$cache/dm-clone-$kver"
if [ -s "$out/mod/dm-clone.ko" ]; then
  echo "$out/mod/dm-clone.ko"
  exit 0
fi
flavour="${kver##*-}"
common="linux-headers-${kver%-"$flavour"}-common"
kbuild="linux-kbuild-$(echo "$kver" | cut -d. -f1-2)"
source="linux-source-$(echo "$kver" | cut -d. -f1-2)"
mkdir -p "$cache/debs"
for pkg in "linux-headers-$kver" "$common" "$kbuild" "$source"; do
  ls "$cache/debs/${pkg}_"*.deb >/dev/null 2>&1 || (cd "$cache/debs" && apt-get download "$pkg" >&2)
done
rm -rf "$out" && mkdir -p "$out/x" "$out/mod"
for pkg in "linux-headers-$kver" "$common" "$kbuild" "$source"; do
  dpkg -x "$(ls "$cache/debs/${pkg}_"*.deb | head -1)" "$out/x"
done
headers="$out/x/usr/src/linux-headers-$kver"
# The headers' Makefile includes the common part by its installed, absolute path.
sed -i "s|include /usr/src/|include $out/x/usr/src/|" "$headers/Makefile"
tarball="$(ls "$out/x/usr/src/$source".tar.*)"
top="$(basename "$tarball" | sed 's/\.tar\..*//')"
# (wildcards match across '/': the first pattern takes persistent-data/*.h too)
tar -xf "$tarball" -C "$out" --wildcards "$top/drivers/md/*.h" "$top/drivers/md/dm-clone*"
cp "$out/$top"/drivers/md/*.h "$out/$top"/drivers/md/dm-clone* "$out/mod/"
cp -r "$out/$top/drivers/md/persistent-data" "$out/mod/"
printf 'obj-m := dm-clone.o\ndm-clone-y := dm-clone-target.o dm-clone-metadata.o\n' >"$out/mod/Kbuild"
make -C "$headers" M="$out/mod" modules >&2
rm -rf "$out/x" "$out/$top"
echo "$out/mod/dm-clone.ko"
