"""Boot storm (issue 3): N clients at once do DHCP, then fetch an 8 MiB first stage by TFTP.

    .venv/bin/python benchmarks/bench_storm.py [--clients 50] [--size-mib 8] [--rounds 3]

Each client is a macvlan interface of its own MAC in the lab's client
namespace.  Storm 1, bench server: busybox udhcpc ``-V walt.node.storm``
(registers a node of model ``storm``), then curl fetches
``boot/rpi-3-b.uboot``, which WalT's rules remap to ``start.uboot`` then
``nodes/<ip>/tftp/start.uboot`` = ``<image-root>/boot/storm/start.uboot``.
Then ``--rounds`` interleaved TFTP-only storms (addresses kept), the bench
server and the reference alternating who goes first: tftpd-hpa (``in.tftpd
--listen --secure`` on a second address of the lab server namespace's
bridge, WalT's map file, ``nodes/<ip>/tftp`` symlinks; tftpd-hpa has no
DHCP) runs alongside the bench server.  Every file is checked byte for byte
(sha256); any failure makes the exit code 1.  Prints Markdown tables, the
per-round speed ratios and the load average of each round.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from net_fixtures import UDHCPC_SCRIPT

from waltport.host.netns import Lab
from waltport.net.server import BenchServer
from waltport.net.tftp import TransferRecord, read_transfer_log

MODEL = "storm"
BENCH_DHCP = "bench server: DHCP + TFTP"
BENCH_TFTP = "bench server: TFTP (leases kept)"
HPA_TFTP = "tftpd-hpa: TFTP (leases kept)"
REQUEST = "boot/rpi-3-b.uboot"  # what a Raspberry Pi's U-Boot asks for
BLKSIZE = 1468  # U-Boot's default TFTP block size
# WalT's tftpd-hpa map file (same rules as waltport.net.tftp_map.WALT_RULES).
HPA_MAP = ("e .*undionly.*\n"
           "r boot/rpi-.*\\.uboot start.uboot\n"
           "r boot/pc-x86-64.ipxe start.ipxe\n"
           "r .* nodes/\\i/tftp/\\0\n")
# One MAC per client, locally administered, never clashing with QEMU's 52:54:00.
MAC_PREFIX = "02:57:a1"
# Many interfaces of one subnet in one namespace: answer ARP only on the
# interface holding the address (else every macvlan answers for every IP).
CLIENT_SYSCTLS = ("net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
                  "net.ipv4.conf.default.arp_ignore=1", "net.ipv4.conf.default.arp_announce=2",
                  "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")


@dataclass(frozen=True)
class ClientResult:
    """One client's storm: its times (s), address and what it got."""

    iface: str
    ip: str | None
    dhcp_s: float
    tftp_s: float
    total_s: float
    size: int
    sha256: str | None
    error: str | None


@dataclass(frozen=True)
class StormStats:
    """A storm's summary: counts, wall time, per-client median/p95, aggregate MB/s."""

    clients: int
    failures: int
    wall_s: float
    median_s: float
    p95_s: float
    tftp_median_s: float
    tftp_p95_s: float
    dhcp_median_s: float
    dhcp_p95_s: float
    mb_per_s: float


# -- pure parts -------------------------------------------------------------
def mac_for(i: int) -> str:
    """The MAC of client ``i``."""
    return f"{MAC_PREFIX}:{(i >> 16) & 0xff:02x}:{(i >> 8) & 0xff:02x}:{i & 0xff:02x}"


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def summarize(results: list[ClientResult], wall_s: float, want_sha: str | None) -> StormStats:
    """Failures are errors or any byte differing; throughput counts verified bytes only.

    ``want_sha`` None: a DHCP-only storm (no file to check).
    """
    good = [r for r in results if r.error is None and want_sha in {None, r.sha256}]
    totals = [r.total_s for r in results]
    tftps = [r.tftp_s for r in results]
    return StormStats(
        clients=len(results), failures=len(results) - len(good), wall_s=wall_s,
        median_s=statistics.median(totals), p95_s=p95(totals),
        tftp_median_s=statistics.median(tftps), tftp_p95_s=p95(tftps),
        dhcp_median_s=statistics.median(r.dhcp_s for r in results),
        dhcp_p95_s=p95([r.dhcp_s for r in results]),
        mb_per_s=sum(r.size for r in good) / wall_s / 1e6)


def remap_check(records: list[TransferRecord], ips: list[str]) -> list[str]:
    """Problems in the server's own log: each IP fetched via ``nodes/<ip>/tftp/start.uboot``."""
    problems = [f"{r.client}: {r.result} {r.error or ''} remapped={r.remapped}"
                for r in records if r.result != "ok"]
    for ip in ips:
        want = f"nodes/{ip}/tftp/start.uboot"
        if not any(r.client == ip and r.remapped == want for r in records):
            problems.append(f"{ip}: no ok transfer remapped to {want}")
    return problems


def udhcpc_argv(iface: str, script: Path) -> list[str]:
    """busybox udhcpc once, as a WalT node of model ``storm``."""
    return ["udhcpc", "-f", "-q", "-n", "-i", iface, "-s", str(script), "-t", "10", "-T", "2",
            "-V", f"walt.node.{MODEL}"]


def curl_argv(iface: str, server_ip: str, out: Path) -> list[str]:
    """curl TFTP fetch bound to ``iface`` (SO_BINDTODEVICE: its own address and MAC)."""
    return ["curl", "-sS", "--fail", "--max-time", "300", "--interface", f"if!{iface}",
            "--tftp-blksize", str(BLKSIZE), "-o", str(out), f"tftp://{server_ip}/{REQUEST}"]


# -- side effects -------------------------------------------------------------
def run(argv: list[str], timeout: float = 30) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` -> {done.returncode}: {done.stderr.strip()}")
    return done.stdout


class Fleet:
    """N macvlan interfaces on the client namespace's ``eth0``; ``remove`` deletes them."""

    def __init__(self, lab: Lab, count: int) -> None:
        self.lab = lab
        self.ifaces = [f"mv{i}" for i in range(count)]

    def create(self) -> Fleet:
        ns = self.lab.client_netns
        run(self.lab.client_exec_argv(["sysctl", "-q", "-w", *CLIENT_SYSCTLS]))
        for i, name in enumerate(self.ifaces):
            run(["ip", "-n", ns, "link", "add", "link", self.lab.client_interface, "name", name,
                 "address", mac_for(i), "type", "macvlan", "mode", "bridge"])
            run(["ip", "-n", ns, "link", "set", name, "up"])
        return self

    def remove(self) -> None:
        for name in self.ifaces:
            subprocess.run(["ip", "-n", self.lab.client_netns, "link", "del", name],
                           capture_output=True, check=False)

    def address(self, iface: str) -> str | None:
        out = run(["ip", "-n", self.lab.client_netns, "-4", "-o", "addr", "show", "dev", iface])
        fields = out.split()
        return fields[3].split("/")[0] if len(fields) > 3 else None


def one_client(lab: Lab, fleet: Fleet, iface: str, tmp: Path, *, dhcp: bool, tftp: bool,
               start: threading.Barrier, server_ip: str) -> ClientResult:
    """DHCP and/or TFTP for one client; never raises, errors go in the result."""
    out = tmp / f"{iface}.bin"
    script = tmp / "udhcpc.sh"
    start.wait()
    t0 = time.monotonic()
    t1 = t0
    ip: str | None = None
    try:
        if dhcp:
            run(lab.client_exec_argv(["env", f"UDHCPC_OUT={tmp / iface}",
                                      *udhcpc_argv(iface, script)]), timeout=60)
        t1 = time.monotonic()
        ip = fleet.address(iface)
        if ip is None:
            raise RuntimeError(f"{iface}: no address after DHCP")
        if not tftp:
            return ClientResult(iface, ip, t1 - t0, 0.0, t1 - t0, 0, None, None)
        run(lab.client_exec_argv(curl_argv(iface, server_ip, out)), timeout=320)
        t2 = time.monotonic()
        data = out.read_bytes()
        out.unlink()
        return ClientResult(iface, ip, t1 - t0, t2 - t1, t2 - t0, len(data),
                            hashlib.sha256(data).hexdigest(), None)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
        t2 = time.monotonic()
        return ClientResult(iface, ip, t1 - t0, t2 - t1, t2 - t0, 0, None, str(err))


def storm(lab: Lab, fleet: Fleet, tmp: Path, *, dhcp: bool, tftp: bool = True,
          server_ip: str | None = None) -> tuple[list[ClientResult], float]:
    """All clients at once (one thread each, released by a barrier); results and wall time."""
    results: list[ClientResult | None] = [None] * len(fleet.ifaces)
    start = threading.Barrier(len(fleet.ifaces) + 1)

    def work(i: int, iface: str) -> None:
        results[i] = one_client(lab, fleet, iface, tmp, dhcp=dhcp, tftp=tftp, start=start,
                                server_ip=server_ip or lab.server_ip)

    threads = [threading.Thread(target=work, args=(i, n)) for i, n in enumerate(fleet.ifaces)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.monotonic()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    return [r for r in results if r is not None], wall


def hpa_root(image_root: Path, ips: list[str]) -> None:
    """WalT's layout for tftpd-hpa: ``nodes/<ip>/tftp`` -> ``boot/<model>`` (relative links)."""
    for ip in ips:
        node = image_root / "nodes" / ip
        node.mkdir(parents=True, exist_ok=True)
        (node / "tftp").symlink_to(f"../../boot/{MODEL}")


def hpa_argv(lab: Lab, ip: str, root: Path, map_file: Path) -> list[str]:
    return lab.exec_argv(["in.tftpd", "--foreground", "--listen", "--address",
                          f"{ip}:69", "--secure", "--map-file", str(map_file), str(root)])


def row(server: str, s: StormStats) -> str:
    return (f"| {server} | {s.clients} | {s.failures} | {s.wall_s:.2f} | "
            f"{s.dhcp_median_s:.2f} / {s.dhcp_p95_s:.2f} | "
            f"{s.tftp_median_s:.2f} / {s.tftp_p95_s:.2f} | {s.median_s:.2f} / {s.p95_s:.2f} | "
            f"{s.mb_per_s:.1f} |")


def per_worker(server_log: str, pids: list[int]) -> list[int]:
    """Transfers each TFTP worker logged (server.log lines carry the process id)."""
    counts = dict.fromkeys(pids, 0)
    for line in server_log.splitlines():
        parts = line.split(" ", 5)
        if len(parts) == 6 and parts[3:5] == ["waltport.net.tftp", "INFO"] \
                and parts[5].startswith("tftp: "):
            pid = int(parts[2]) if parts[2].isdigit() else -1
            if pid in counts:
                counts[pid] += 1
    return list(counts.values())


def report_failures(name: str, results: list[ClientResult], want: str | None) -> None:
    for r in results:
        if r.error is not None or want not in {None, r.sha256}:
            print(f"{name} {r.iface} ip={r.ip} size={r.size}: {r.error or 'sha256 differs'}",
                  file=sys.stderr)


def dhcp_only(lab: Lab, fleet: Fleet, tmp: Path, root: Path, workers: int | None) -> int:
    """All clients do DHCP at once, nothing else; prints one row; 1 on any failure."""
    with BenchServer(lab, root, state=tmp / "state", tftp_workers=workers) as srv:
        results, wall = storm(lab, fleet, tmp, dhcp=True, tftp=False)
        server_log = srv.log_path.read_text(errors="replace")
    s = summarize(results, wall, None)
    report_failures("dhcp-only", results, None)
    print(f"| bench server: DHCP only | {s.clients} | {s.failures} | {s.wall_s:.2f} | "
          f"{s.dhcp_median_s:.2f} / {s.dhcp_p95_s:.2f} |\n\n"
          f"{server_log.count('dhcp: DISCOVER ')} DISCOVER and "
          f"{server_log.count('dhcp: REQUEST ')} REQUEST received")
    return 1 if s.failures else 0


def loads() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def tftp_rounds(lab: Lab, fleet: Fleet, tmp: Path, hpa_ip: str, *, want: str, rounds: int
                ) -> tuple[dict[str, list[StormStats]], list[str]]:
    """Interleaved TFTP-only storms, bench server and tftpd-hpa alternating who goes first."""
    out: dict[str, list[StormStats]] = {BENCH_TFTP: [], HPA_TFTP: []}
    round_loads = []
    for n in range(rounds):
        before = loads()
        order = [BENCH_TFTP, HPA_TFTP] if n % 2 == 0 else [HPA_TFTP, BENCH_TFTP]
        for name in order:
            ip = lab.server_ip if name == BENCH_TFTP else hpa_ip
            results, wall = storm(lab, fleet, tmp, dhcp=False, server_ip=ip)
            out[name].append(summarize(results, wall, want))
            report_failures(name, results, want)
        round_loads.append(f"{before} -> {loads()}")
    return out, round_loads


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--size-mib", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3,
                    help="interleaved TFTP-only storms per server after the DHCP + TFTP one")
    ap.add_argument("--dhcp-only", action="store_true",
                    help="one DHCP storm without TFTP (the DHCP reference without TFTP load)")
    ap.add_argument("--keep-log", type=Path, help="copy the bench server's server.log here")
    ap.add_argument("--tftp-workers", type=int,
                    help="bench server TFTP worker processes (default: its own, CPUs, min 2)")
    args = ap.parse_args()
    lab = Lab(f"wpb-storm-{os.getpid() % 100000}").up()
    hpa_ip = str(lab.network.network_address + 2)  # outside the DHCP pool (.10 on)
    fleet = Fleet(lab, args.clients)
    first: StormStats | None = None
    rounds: dict[str, list[StormStats]] = {}
    round_loads: list[str] = []
    notes: list[str] = [f"load average before: {loads()}"]
    failed = False
    with tempfile.TemporaryDirectory(prefix="storm-") as d:
        tmp = Path(d)
        os.chmod(tmp, 0o755)
        (tmp / "udhcpc.sh").write_text(UDHCPC_SCRIPT)
        (tmp / "udhcpc.sh").chmod(0o755)
        root = tmp / "img"
        (root / "boot" / MODEL).mkdir(parents=True)
        payload = os.urandom(args.size_mib << 20)
        (root / "boot" / MODEL / "start.uboot").write_bytes(payload)
        want = hashlib.sha256(payload).hexdigest()
        hpa: subprocess.Popen[bytes] | None = None
        try:
            fleet.create()
            if args.dhcp_only:
                return dhcp_only(lab, fleet, tmp, root, args.tftp_workers)
            with BenchServer(lab, root, state=tmp / "state",
                             tftp_workers=args.tftp_workers) as srv:
                workers: list[int] = srv.info["tftp_pids"]  # type: ignore[assignment]
                notes.append(f"bench server's lock-step loop: "
                             f"{srv.info.get('tftp_lockstep', 'Python')}")
                results, wall = storm(lab, fleet, tmp, dhcp=True)
                nodes = [dev for dev in srv.registry.devices() if dev.model == MODEL]
                commits = sorted(e.time for e in srv.registry.events() if e.kind == "dhcp-commit")
                first = summarize(results, wall, want)
                report_failures("bench", results, want)
                ips = [r.ip for r in results if r.ip is not None]
                # tftpd-hpa on a second address of the same bridge, both serving at once.
                hpa_root(root, ips)
                (tmp / "walt.map").write_text(HPA_MAP)
                run(["ip", "-n", lab.netns, "addr", "add", f"{hpa_ip}/24", "dev", lab.bridge])
                hpa = subprocess.Popen(hpa_argv(lab, hpa_ip, root, tmp / "walt.map"),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
                if hpa.poll() is not None:
                    raise RuntimeError(f"in.tftpd exited with {hpa.returncode}")
                rounds, round_loads = tftp_rounds(lab, fleet, tmp, hpa_ip, want=want,
                                                  rounds=args.rounds)
                log = read_transfer_log(srv.transfer_log)
            problems = remap_check(log, ips)
            for p in problems:
                print(f"bench server log: {p}", file=sys.stderr)
            retrans = sum(r.retransmits for r in log)
            server_log = srv.log_path.read_text(errors="replace")
            if args.keep_log:
                args.keep_log.write_text(server_log)
            discovers = server_log.count("dhcp: DISCOVER ")
            requests = server_log.count("dhcp: REQUEST ")
            notes.append(f"bench server: {len(nodes)} nodes of model {MODEL} registered, "
                         f"{len(log)} transfers logged, {len(problems)} problems, {retrans} "
                         f"retransmitted blocks; {discovers} DISCOVER and {requests} REQUEST "
                         f"received; DHCP commits spread over "
                         f"{commits[-1] - commits[0] if commits else 0:.2f} s")
            notes.append(f"bench server: {len(workers)} TFTP worker processes; transfers per "
                         f"worker (all storms): {per_worker(server_log, workers)}")
            failed |= len(nodes) != args.clients or bool(problems)
        finally:
            if hpa is not None:
                hpa.terminate()
                hpa.wait()
            fleet.remove()
            lab.down()
    print(f"| server | clients | failures | wall (s) | DHCP median / p95 (s) "
          f"| TFTP median / p95 (s) | client total median / p95 (s) "
          f"| aggregate MB/s ({args.size_mib} MiB each) |")
    print("|---|---|---|---|---|---|---|---|")
    if first is not None:
        print(row(BENCH_DHCP, first))
    for name, per_round in rounds.items():
        for n, s in enumerate(per_round, 1):
            print(row(f"{name}, round {n}", s))
    if rounds.get(BENCH_TFTP) and rounds.get(HPA_TFTP):
        a, b = rounds[BENCH_TFTP], rounds[HPA_TFTP]
        walls = [y.wall_s / x.wall_s for x, y in zip(a, b, strict=True)]
        notes.append(f"TFTP-only storms, {len(a)} interleaved rounds: median wall bench "
                     f"{statistics.median(x.wall_s for x in a):.2f} s, tftpd-hpa "
                     f"{statistics.median(y.wall_s for y in b):.2f} s; speed ratio "
                     f"(tftpd-hpa wall / bench wall) per round "
                     f"{' / '.join(f'{w:.2f}' for w in walls)}, median "
                     f"{statistics.median(walls):.2f}; aggregate MB/s median bench "
                     f"{statistics.median(x.mb_per_s for x in a):.1f}, tftpd-hpa "
                     f"{statistics.median(y.mb_per_s for y in b):.1f}")
    notes += [f"round {n} load average: {text}" for n, text in enumerate(round_loads, 1)]
    print("\n" + "\n".join(notes))
    failed |= first is None or any(s.failures for v in rounds.values() for s in v)
    failed |= first is not None and first.failures > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
