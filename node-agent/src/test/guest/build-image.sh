#!/usr/bin/env bash
# Builds the guest test bed into CACHE (default ~/.cache/volume-clone/guest): the Debian bookworm
# kernel that linux-image-amd64 depends on (downloaded with apt-get download and unpacked with
# dpkg -x; nothing is installed on this machine), its vmlinux uncompressed for a fast direct
# boot, and an uncompressed initramfs holding busybox, bash, nbd-client, dmsetup, e2fsprogs, fio,
# the modules the tests load, and every shared library those programs and the host's JDK need
# (the JDK itself reaches the guest over 9p). Prints the directory holding vmlinux and
# initramfs.cpio. Rebuilds only what this script's content or the kernel version invalidates.
set -euo pipefail

cache="${1:-$HOME/.cache/volume-clone/guest}"
java_home="${2:?usage: build-image.sh CACHE JAVA_HOME}"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$cache/debs"

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "build-image.sh: $1 is missing (apt-get install $2)" >&2; exit 3; }
}
need busybox busybox-static
need nbd-client nbd-client
need dmsetup dmsetup
need mkfs.ext4 e2fsprogs
need fio fio
need depmod kmod
need cpio cpio
need xz xz-utils

kpkg="$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-6\.1\.[^ ]*-amd64\)$/\1/p' | head -1)"
[ -n "$kpkg" ] || { echo "build-image.sh: apt-cache does not say which kernel linux-image-amd64 depends on (run apt-get update)" >&2; exit 3; }
kver="${kpkg#linux-image-}"
stamp="$kver $(cat "$here/build-image.sh" "$here/init" | sha256sum | cut -c1-16) $java_home"
out="$cache/$kver"
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$out"

deb="$(ls "$cache/debs/${kpkg}_"*.deb 2>/dev/null | head -1 || true)"
if [ -z "$deb" ]; then
  (cd "$cache/debs" && apt-get download "$kpkg" >&2)
  deb="$(ls "$cache/debs/${kpkg}_"*.deb | head -1)"
fi
kx="$out/kernel"
if [ ! -d "$kx/lib/modules/$kver" ]; then
  rm -rf "$kx" && mkdir -p "$kx"
  dpkg -x "$deb" "$kx"
fi

# The bzImage carries an xz stream; the uncompressed ELF boots straight through PVH with qboot.
if [ ! -s "$out/vmlinux" ]; then
  bz="$kx/boot/vmlinuz-$kver"
  offset="$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bz" | head -1 | cut -d: -f1)"
  tail -c +"$((offset + 1))" "$bz" | xz -dc 2>/dev/null >"$out/vmlinux.tmp" || true
  [ "$(head -c 4 "$out/vmlinux.tmp" | od -An -c | tr -d ' ')" = "177ELF" ] \
    || { echo "build-image.sh: no ELF kernel inside $bz" >&2; exit 3; }
  mv "$out/vmlinux.tmp" "$out/vmlinux"
fi

root="$out/root"
rm -rf "$root"
# usrmerge, as on the host: /lib and /lib64 are links into /usr, so every library is copied once.
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,mnt,jdk,work,cds,usr/lib/modules,usr/lib64,usr/bin,usr/sbin,var/tmp}
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"

# Modules: the ones the tests need and what they depend on, with a depmod of just that set.
mods=(virtio_pci virtio_blk virtio_net 9pnet_virtio 9p ext4 crc32c_generic nbd dm-mod dm-log-writes dm-flakey dm-delay dm-persistent-data loop)
modroot="$kx/lib/modules/$kver"
[ -f "$modroot/modules.dep" ] || depmod -b "$kx" "$kver"
for m in "${mods[@]}"; do
  modprobe -d "$kx" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | sort -u | while read -r ko; do
  rel="${ko#"$kx"/}"
  mkdir -p "$root/$(dirname "$rel")"
  cp "$ko" "$root/$rel"
done
cp "$modroot"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/" 2>/dev/null || true
depmod -b "$root" "$kver"

copy_elf() {
  local file="$1"
  local dest="$root$file"
  case "$file" in /lib/* | /lib64/*) dest="$root/usr$file" ;; esac
  [ -e "$dest" ] && return
  mkdir -p "$(dirname "$dest")"
  cp -L "$file" "$dest"
}
copy_libs() {
  ldd "$1" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' | while read -r lib; do
    copy_elf "$lib"
  done
}

cp "$(command -v busybox)" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
for tool in bash nbd-client dmsetup mkfs.ext4 mke2fs e2fsck fio blockdev sync dd cmp sha256sum stat date sleep timeout; do
  path="$(command -v "$tool")"
  rm -f "$root/bin/$tool"
  copy_elf "$path"
  copy_libs "$path"
  [ -e "$root/bin/$tool" ] || ln -sf "$path" "$root/bin/$tool"
done
# fio loads its I/O engines and mke2fs its configuration at run time.
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$root/etc/"
for so in "$java_home"/bin/java "$java_home"/lib/*.so "$java_home"/lib/server/libjvm.so; do
  copy_libs "$so"
done
# jnr-ffi dlopens libc by name.
for lib in /lib/x86_64-linux-gnu/libc.so.6 /lib/x86_64-linux-gnu/libm.so.6 /lib/x86_64-linux-gnu/libdl.so.2 \
  /lib/x86_64-linux-gnu/libpthread.so.0 /lib/x86_64-linux-gnu/librt.so.1 /lib/x86_64-linux-gnu/libz.so.1; do
  [ -e "$lib" ] && copy_elf "$lib"
done
echo "root:x:0:0:root:/root:/bin/bash" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
echo "$kver" >"$root/etc/kernel-version"
cp "$here/init" "$root/init"
chmod 755 "$root/init"

(cd "$root" && find . | cpio -o -H newc --quiet) >"$out/initramfs.cpio.tmp"
mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
echo "$stamp" >"$out/stamp"
echo "$out"
