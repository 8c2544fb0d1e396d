#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine (run as root):
# installs the system packages waltport drives, then the .venv with waltport[dev].
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

APT_PACKAGES=(
  qemu-system-arm qemu-system-x86 u-boot-qemu ipxe-qemu qemu-utils
  u-boot-tools mtools dosfstools syslinux syslinux-common ovmf
  tcpdump tshark
  tftp-hpa tftpd-hpa isc-dhcp-server udhcpc busybox atftp
  podman buildah runc uidmap fuse-overlayfs
  iproute2 iptables procps psmisc curl
  nfs-ganesha nfs-ganesha-vfs rpcbind openssh-client socat
  mmdebstrap qemu-user-static binfmt-support
  chromium
  gcc libc6-dev python3-dev
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: missing system packages (${missing[*]}); run as root" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Never let package scripts start daemons (tftpd-hpa, isc-dhcp-server) on this host.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian images of another arch run their package scripts through qemu-user-static:
# binfmt_misc must be mounted and the qemu entries enabled.  Say what changes on the host.
binfmt=/proc/sys/fs/binfmt_misc
if [ "$(id -u)" = 0 ] && command -v update-binfmts >/dev/null; then
  if [ ! -e "$binfmt/status" ]; then
    if mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null; then
      echo "bootstrap: mounted binfmt_misc on $binfmt (host change)"
    else
      echo "bootstrap: cannot mount binfmt_misc: Debian images of a foreign arch cannot be built here" >&2
    fi
  fi
  if [ -e "$binfmt/status" ]; then
    for q in qemu-aarch64 qemu-arm; do
      if ! grep -qs '^enabled' "$binfmt/$q"; then
        if update-binfmts --enable "$q" >/dev/null 2>&1; then
          echo "bootstrap: registered $q in binfmt_misc (host change: foreign binaries run through qemu-user-static)"
        else
          echo "bootstrap: could not register $q in binfmt_misc" >&2
        fi
      fi
    done
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.waltport-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ waltport/net/_tftpfast.c -nt "$stamp" ]; then
  # pip's output goes to a log: a failure prints its tail, a success stays quiet.
  if ! { .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e '.[dev]'; } \
      > .venv/pip.log 2>&1; then
    tail -n 30 .venv/pip.log >&2
    echo "bootstrap: pip install failed (full log: .venv/pip.log)" >&2
    exit 1
  fi
  touch "$stamp"
  # The TFTP server's C loop is optional (pip goes on without it): say when it is missing.
  if ! .venv/bin/python -c 'import waltport.net._tftpfast' 2>/dev/null; then
    echo "bootstrap: the TFTP C loop did not build (see .venv/pip.log): the bench server" \
      "serves lock-step transfers in Python, slower" >&2
  fi
fi
echo "bootstrap: ready (.venv)"
