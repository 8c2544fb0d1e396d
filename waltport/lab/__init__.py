"""The virtual board lab: network namespace, bench server peers, QEMU boards."""
