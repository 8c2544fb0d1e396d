"""`waltport run` end to end on the virtual arm64 board: real U-Boot, bench server, podman.

One boot per run: the network and first-boot stages judge the same boot of the imported image.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from pipeline_fixtures import BOARDS, _jupyter_dirs, assert_round_trip, jupyter_root  # noqa: F401

from waltport.cli import main
from waltport.pipeline.bundle import ATTACHMENT_LIMIT
from waltport.pipeline.report import GITHUB_COMMENT_LIMIT
from waltport.util.paths import PROJECT_DIR

pytestmark = [pytest.mark.root, pytest.mark.qemu, pytest.mark.podman, pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")]


def test_every_stage_passes_with_real_evidence(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    lab = f"wpe2e-{os.getpid()}"   # a lab of its own: other runs may use wp-qemu-arm64
    rc = main(["run", str(BOARDS / "qemu-arm64.yaml"), "--out", str(out), "--no-progress",
               "-p", f"lab_name={lab}"])
    s = json.loads((out / "summary.json").read_text())
    assert rc == 0, [(e["name"], e["status"], e["message"]) for e in s["stages"]]
    assert [(e["name"], e["status"]) for e in s["stages"]] == [
        (name, "pass") for name in ("board", "bootloader", "image", "network", "first_boot")]
    # VCI from the capture, bytes served, labels read back from podman, userspace reached.
    assert s["network"]["vci_seen"] == ["walt.node.qemu-arm64"]
    served = {f["path"]: f["bytes"] for f in s["network"]["files_served"]}
    assert served["start.uboot"] == (out / "bootloader" / "start.uboot").stat().st_size
    assert served["kernel"] > 1_000_000
    assert s["image"]["labels"]["walt.node.models"] == "qemu-arm64"
    assert s["image"]["reference"] == "docker.io/waltplatform/qemu-arm64-default:latest"
    assert s["first_boot"]["reached_userspace"] == 1
    assert str(s["versions"]["u-boot"]).startswith("U-Boot 2023.01")
    md = (out / "report.md").read_text()
    assert "`qemu-arm64` ✔ boots as a WalT node" in md and "podman load -i" in md
    assert len(md) <= GITHUB_COMMENT_LIMIT
    assert s["image"]["digest"] in md and s["boot_artifacts"][0]["sha256"] in md
    # Every notebook ran to the end and no table stands empty on this passing run.
    for nb in sorted(out.glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        outputs = json.dumps([c.get("outputs", []) for c in cells])
        assert '"output_type": "error"' not in outputs, nb.name
        assert "nothing recorded" not in outputs and "not recorded" not in outputs, nb.name
    # No private key in the run dir (the lab's lives in the state dir, for the boot only),
    # no host path in what is published.
    assert not [p for p in out.rglob("id_*") if not p.name.endswith(".pub")]
    for name in ("report.md", "report.html", "summary.json", "network.json",
                 "first_boot.json", "image.json"):
        text = (out / name).read_text()
        assert str(out) not in text and str(PROJECT_DIR) not in text, name
    bundle = out / "waltport-bundle.zip"
    assert f"bundle: {bundle}" in capsys.readouterr().out
    assert bundle.stat().st_size <= ATTACHMENT_LIMIT
    assert (out / "network" / "ladder.png").exists()
    assert (out / "first_boot" / "timeline.png").exists()
    # One boot per run: the network stage booted the imported image, once; its capture
    # is the one the first boot judged, and the only one in the run.
    network = json.loads((out / "network.json").read_text())
    first_boot = json.loads((out / "first_boot.json").read_text())
    capture = "network/lab/boot-0/capture.pcap"
    assert [str(p.relative_to(out)) for p in out.rglob("*.pcap")] == [capture]
    assert network["artifacts"]["pcap"] == first_boot["artifacts"]["pcap"] == capture
    assert network["artifacts"]["console"] == first_boot["artifacts"]["console"]
    assert network["data"]["image_root"] == first_boot["data"]["image_root"] == \
        f"exported from {s['image']['reference']}"
    assert first_boot["data"]["boot_source"].startswith("the network stage's boot")
    assert {"export", "boot", "analyse"} <= set(network["timings"])
    assert "boot" not in first_boot["timings"]
    # Every stage's data reads back into its typed facts and writes the same JSON.
    for name in ("board", "bootloader", "image", "network", "first_boot", "report"):
        assert_round_trip(out / f"{name}.json")
    # The DHCP the network stage judged is that boot of the image: the client it shows is
    # the node the first boot logged into over SSH, at the address the ACK gave, and the
    # image's boot announced itself on that capture.
    (boot,) = first_boot["data"]["boot"]["boots"]
    assert {r["mac"] for r in network["data"]["dhcp_rows"] if r["from"] != "server"} == \
        {boot["mac"]}
    login = next(st for st in boot["stages"] if st["name"] == "ssh_login")
    acked = {r["yiaddr"] for r in network["data"]["dhcp_rows"] if r["type"] == "ACK"}
    assert login["time"] is not None and login["evidence"]["node_ip"] in acked
    notified = next(c for c in network["checks"] if c["name"].startswith("node announced"))
    assert notified["status"] == "pass" and boot["mac"] in notified["evidence"]
    kernel = next(st for st in boot["stages"] if st["name"] == "kernel_fetched")
    assert served["kernel"] == kernel["evidence"]["bytes"]
    # The board booted the card `waltport media` writes; its sidecar is the stage's evidence.
    assert first_boot["artifacts"]["boot medium"] == "network/lab/sdcard.img.md"
    names = zipfile.ZipFile(bundle).namelist()      # the bundle has the sidecar, not the image
    assert {"network/lab/sdcard.img.md", "network/lab/sdcard.img.json"} <= {
        n.split("/", 1)[1] for n in names if "/" in n}
    assert not [n for n in names if n.endswith("/sdcard.img")]
    assert not (out / "first_boot" / "boot-0").exists()
    # The report's bootloader section shows that card: the sha256 of its bytes, as recorded.
    card = hashlib.sha256((out / "network" / "lab" / "sdcard.img").read_bytes()).hexdigest()
    assert s["media"][0]["medium"]["sha256"] == card and f"`{card}`" in md
    # The lab is gone: nothing left behind.
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                           check=True).stdout
    assert lab not in netns
