"""The lab's initramfs: busybox-static + virtio-net modules + an ``/init`` that reports in.

Debian's kernel has ``VIRTIO_NET=m`` and no ``IP_PNP``, so the kernel alone
cannot reach the network: ``/init`` mounts proc/sys/devtmpfs, loads the
virtio-net chain (load order from each module's ``depends=``), configures
eth0 from the WalT ``ip=`` argument (udhcpc when it is absent), prints
``WALTPORT-USERSPACE-OK ...`` on the console and sends the boot notification
``WALTPORT-BOOTED model=.. mac=.. ip=..`` to the server (UDP 7557; the server
IP comes from ``nfsroot=`` or ``ip=`` on ``/proc/cmdline``), then powers off
so QEMU exits -- unless the initrd carries the NFS modules (the default
image's does): then it mounts ``nfsroot=`` read-only (NFSv3, no locking),
puts a tmpfs overlay on top (as WalT's walt-init does), copies the lab's SSH
key from ``<nfsroot minus /fs>/lab`` when served, and ``switch_root``s into
the image's init (``init=`` when the image has it, else ``/sbin/init``).  A
failed mount says so on the console and powers off, so a boot never hangs.

Debian's ``busybox-static`` has no UDP mode in ``nc``, so the datagram is
sent by the kernel's own ``netconsole`` module (the mechanism WalT's debug
U-Boot also uses): ``/init`` points it at the server and writes the line to
``/dev/kmsg`` with timestamps off, so the datagram is exactly the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from waltport.errors import WaltportError
from waltport.host.cpio import Entry, write_newc
from waltport.walt import NOTIFY_PORT, NOTIFY_PREFIX, USERSPACE_MARKER

# Modules the init loads (their dependencies are added before them).
NET_MODULES = ("virtio_pci", "virtio_net", "netconsole")
APPLETS = ("sh", "mount", "umount", "insmod", "ip", "ipcalc", "udhcpc", "cat", "echo",
           "sleep", "ping", "poweroff", "reboot", "sed", "tr", "cut", "grep", "ls",
           "mkdir", "dmesg", "uname", "awk", "switch_root", "chmod")
DIRS = ("bin", "dev", "etc", "lib", "lib/modules", "proc", "run", "sbin", "sys", "tmp",
        "usr", "usr/share", "usr/share/udhcpc")


class InitramfsError(WaltportError):
    """Inputs to the initramfs (busybox, kernel modules) are missing or unusable."""


@dataclass(frozen=True)
class ModuleInfo:
    name: str
    path: Path
    depends: tuple[str, ...]


def modinfo_depends(ko: bytes) -> tuple[str, ...]:
    """The ``depends=`` list of a kernel module's ``.modinfo`` strings."""
    m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", ko)
    if m is None or not m.group(1):
        return ()
    return tuple(d.replace("-", "_") for d in m.group(1).decode().split(",") if d)


def index_modules(modules_dir: Path) -> dict[str, Path]:
    """Module name (``virtio_net``) -> its ``.ko`` under ``modules_dir``."""
    return {p.name.removesuffix(".ko").replace("-", "_"): p
            for p in sorted(modules_dir.rglob("*.ko"))}


def load_order(wanted: Iterable[str], depends: dict[str, tuple[str, ...]]) -> list[str]:
    """Dependencies first, each module once; ``depends`` maps name -> its depends."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in path:
            raise InitramfsError(f"module dependency cycle: {' -> '.join((*path, name))}")
        if name not in depends:
            raise InitramfsError(f"kernel module {name} is not in the kernel package")
        for dep in depends[name]:
            visit(dep, (*path, name))
        order.append(name)

    for name in wanted:
        visit(name, ())
    return order


def resolve_modules(modules_dir: Path, wanted: Iterable[str] = NET_MODULES) -> list[ModuleInfo]:
    """The modules to ship, in load order (reads ``depends=`` from each ``.ko``)."""
    index = index_modules(modules_dir)
    depends: dict[str, tuple[str, ...]] = {}

    def learn(name: str) -> None:
        if name in depends or name not in index:
            return
        depends[name] = modinfo_depends(index[name].read_bytes())
        for dep in depends[name]:
            learn(dep)

    for name in wanted:
        learn(name)
    return [ModuleInfo(n, index[n], depends[n]) for n in load_order(wanted, depends)]


INIT_SCRIPT = r"""#!/bin/sh
# waltport lab init: network up, report in, then the NFS root (or power off).
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "WALTPORT-INIT-START"
for m in $(cat /lib/modules/load-order); do insmod /lib/modules/$m.ko 2>/dev/null; done
n=0
while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
ip link set lo up
ip link set eth0 up
mac=$(cat /sys/class/net/eth0/address)
model=$(cat /etc/walt-model)
cmdline=$(cat /proc/cmdline)
ipconf=""; server=""
[ "$(cat /etc/waltport-netconf)" = cmdline ] || cmdline=""
for arg in $cmdline; do
  case "$arg" in
    ip=*) ipconf="${arg#ip=}" ;;
    nfsroot=*) server="${arg#nfsroot=}"; server="${server%%:*}" ;;
    walt.model=*) model="${arg#walt.model=}" ;;
  esac
done
addr=$(echo "$ipconf" | cut -d: -f1)
mask=$(echo "$ipconf" | cut -d: -f4)
case "$addr" in
  [0-9]*.[0-9]*.[0-9]*.[0-9]*)
    [ -n "$server" ] || server=$(echo "$ipconf" | cut -d: -f2)
    eval "$(ipcalc -p "$addr" "${mask:-255.255.255.0}")"
    ip addr add "$addr/$PREFIX" dev eth0 ;;
  *)
    udhcpc -i eth0 -n -q -t 10 -s /usr/share/udhcpc/default.script
    addr=$(cat /tmp/dhcp-ip)
    [ -n "$server" ] || server=$(cat /tmp/dhcp-server) ;;
esac
echo "@USERSPACE_MARKER@ model=$model mac=$mac ip=$addr server=$server"
if [ -n "$server" ]; then
  # netconsole turns printk text into UDP datagrams.  It was loaded without a
  # target (so its replay of the boot log went nowhere); a configfs target is
  # enabled for exactly one line, with timestamps off and the console level at
  # 2 so that only our level-1 line is sent.  The server MAC is learnt first
  # (netpoll does no ARP; without it the frame is broadcast).
  ping -c 1 -W 2 "$server" >/dev/null 2>&1
  smac=$(ip neigh show "$server" | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p')
  mount -t configfs configfs /sys/kernel/config
  t=/sys/kernel/config/netconsole/waltport
  mkdir "$t"
  echo eth0 > "$t/dev_name"
  echo "$addr" > "$t/local_ip"
  echo "$server" > "$t/remote_ip"
  echo @NOTIFY_PORT@ > "$t/remote_port"
  [ -z "$smac" ] || echo "$smac" > "$t/remote_mac"
  echo N > /sys/module/printk/parameters/time
  echo 2 > /proc/sys/kernel/printk
  echo 1 > "$t/enabled"
  echo "<1>@NOTIFY_PREFIX@ model=$model mac=$mac ip=$addr" > /dev/kmsg
  # The line may be handed to the consoles a moment later (by whichever task
  # holds the console lock): a target disabled before then never sends it.
  sleep 0.3
  echo 0 > "$t/enabled"
  echo 7 > /proc/sys/kernel/printk
fi
# WalT's way on: the image's root over NFS (read-only) under a RAM overlay,
# then the image's own init.  Any failure falls back to powering off.
nfs_root() {
  [ -n "$nfsroot" ] || { echo "no nfsroot= on the command line"; return 1; }
  # NFS as modules in the initrd, or built into the kernel (a porter's kernel).
  [ -e /lib/modules/nfsv3.ko ] || grep -qw nfs /proc/filesystems \
    || { echo "this initrd carries no NFS modules"; return 1; }
  path="${nfsroot#*:}"; opts=""
  case "$path" in *,*) opts=",${path#*,}"; path="${path%%,*}" ;; esac
  mkdir -p /nfs /ram /newroot /lab
  mount -t nfs -o "ro,nolock,vers=3,tcp,addr=$server$opts" "$server:$path" /nfs \
    || { echo "NFS mount of $server:$path failed"; return 1; }
  mount -t tmpfs -o mode=0755 tmpfs /ram && mkdir -p /ram/upper /ram/work
  mount -t overlay overlay -o lowerdir=/nfs,upperdir=/ram/upper,workdir=/ram/work /newroot \
    || { echo "overlay on the NFS root failed"; return 1; }
  init=/sbin/init
  [ -n "$kinit" ] && [ -x "/newroot$kinit" ] && init="$kinit"
  [ -x "/newroot$init" ] || [ -L "/newroot$init" ] || { echo "no $init in the image"; return 1; }
  # The lab serves its per-run SSH key beside the root (a WalT server writes it in).
  lab="$server:${path%/fs}/lab"
  if mount -t nfs -o "ro,nolock,vers=3,tcp,addr=$server" "$lab" /lab 2>/dev/null; then
    if [ -f /lab/authorized_keys ]; then
      mkdir -p /newroot/root/.ssh
      cat /lab/authorized_keys > /newroot/root/.ssh/authorized_keys
      chmod 700 /newroot/root /newroot/root/.ssh
      chmod 600 /newroot/root/.ssh/authorized_keys
    fi
    umount /lab
  fi
  echo "$model" > /newroot/etc/walt-model
  echo "WALTPORT-NFSROOT-OK root=$server:$path init=$init"
  umount /sys/kernel/config 2>/dev/null
  umount /proc /sys /dev 2>/dev/null
  exec switch_root /newroot "$init"
}
kinit=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    nfsroot=*) nfsroot="${arg#nfsroot=}" ;;
    init=*) kinit="${arg#init=}" ;;
  esac
done
if [ -n "$server" ] && [ "$(cat /etc/waltport-netconf)" = cmdline ]; then
  nfs_root
  echo "WALTPORT-NFSROOT-FAILED: falling back to power-off"
fi
echo "WALTPORT-POWEROFF"
poweroff -f
"""

UDHCPC_SCRIPT = r"""#!/bin/sh
case "$1" in
  bound|renew)
    eval "$(ipcalc -p "$ip" "${subnet:-255.255.255.0}")"
    ip addr add "$ip/$PREFIX" dev "$interface"
    echo "$ip" > /tmp/dhcp-ip
    echo "${siaddr:-$serverid}" > /tmp/dhcp-server ;;
esac
"""


def init_script() -> str:
    """The ``/init`` shell script (busybox ash)."""
    values = {"NOTIFY_PORT": str(NOTIFY_PORT), "NOTIFY_PREFIX": NOTIFY_PREFIX,
              "USERSPACE_MARKER": USERSPACE_MARKER}
    return re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], INIT_SCRIPT)


def initramfs_entries(*, busybox: bytes, modules: list[tuple[str, bytes]],
                      model: str, netconf: str = "cmdline") -> list[Entry]:
    """The archive members: pure, from file contents already read."""
    entries = [Entry.directory(d) for d in DIRS]
    entries.append(Entry.chardev("dev/console", 5, 1))
    entries.append(Entry.file("bin/busybox", busybox, 0o755))
    entries += [Entry.symlink(f"bin/{a}", "busybox") for a in APPLETS]
    entries.append(Entry.symlink("sbin/poweroff", "../bin/busybox"))
    entries.append(Entry.file("init", init_script().encode(), 0o755))
    entries.append(Entry.file("usr/share/udhcpc/default.script", UDHCPC_SCRIPT.encode(), 0o755))
    entries.append(Entry.file("etc/walt-model", f"{model}\n".encode()))
    entries.append(Entry.file("etc/waltport-netconf", f"{netconf}\n".encode()))
    entries += [Entry.file(f"lib/modules/{name}.ko", data) for name, data in modules]
    order = "".join(f"{name}\n" for name, _ in modules)
    entries.append(Entry.file("lib/modules/load-order", order.encode()))
    return entries


def build_initramfs(arch: str, *, busybox: Path, modules: Path, model: str,
                    server_ip_from_cmdline: bool = True) -> bytes:
    """The initramfs (newc cpio, uncompressed) for ``arch``'s lab kernel.

    ``modules`` is the kernel's ``lib/modules/<version>`` directory.  The server
    IP is read at boot from ``/proc/cmdline`` (``nfsroot=``/``ip=``); with
    ``server_ip_from_cmdline=False`` the DHCP server's address is used.
    """
    if not busybox.is_file():
        raise InitramfsError(f"busybox for {arch} not found at {busybox}")
    if not modules.is_dir():
        raise InitramfsError(f"kernel modules directory {modules} not found")
    mods = [(m.name, m.path.read_bytes()) for m in resolve_modules(modules)]
    netconf = "cmdline" if server_ip_from_cmdline else "dhcp"
    return write_newc(initramfs_entries(busybox=busybox.read_bytes(), modules=mods,
                                        model=model, netconf=netconf))
