# Shared helpers of the VM harness (sourced by build-image and run-in-vm).

vm_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vm_cache="${FERROVS_VM_CACHE:-$vm_dir/cache}"

vm_log() { echo "vm: $*" >&2; }

# copy_with_libs FILE DESTROOT [DESTPATH]
# Copies FILE to DESTROOT/DESTPATH (default: FILE's own path) and, if it is
# a dynamically linked program, every shared library ldd lists for it, at
# the same paths as on the host (so the guest's loader finds them).
copy_with_libs() {
  local src=$1 root=$2 dest=${3:-$1}
  mkdir -p "$root/$(dirname "$dest")"
  cp -L "$src" "$root/$dest"
  local lib
  # ldd prints "name => /path (addr)" or "/path (addr)"; keep the paths.
  for lib in $(ldd "$src" 2>/dev/null | awk '/=> \//{print $3} /^\t\//{print $1}'); do
    if [ ! -e "$root/$lib" ]; then
      mkdir -p "$root/$(dirname "$lib")"
      cp -L "$lib" "$root/$lib"
    fi
  done
}

# make_cpio DIR OUT: an uncompressed newc archive of DIR's contents, owned
# by root, so the kernel can unpack it as (part of) the initramfs.
make_cpio() {
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$2"
}
