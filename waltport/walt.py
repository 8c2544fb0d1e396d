"""The strings a WalT server, a node and the lab's boot notification agree on, defined once.

Constants only (this module imports nothing of waltport, so every layer may
import it): the profile schema, the bootloader linter, the bench server, the
capture analysis, the lab's initramfs and its boot sequence read them here.
"""

from __future__ import annotations

# The DHCP identifier of a node (VCI option 60 or UCI option 77): WalT's server
# takes the model as everything after these 10 characters.
WALT_PREFIX = "walt.node."

# The lab's boot notification: the initramfs prints USERSPACE_MARKER on the
# console once userspace runs, then sends one UDP datagram
# "<NOTIFY_PREFIX> model=<m> mac=<aa:bb:..> ip=<a.b.c.d>" to the server's NOTIFY_PORT.
USERSPACE_MARKER = "WALTPORT-USERSPACE-OK"
NOTIFY_PREFIX = "WALTPORT-BOOTED"
NOTIFY_PORT = 7557
