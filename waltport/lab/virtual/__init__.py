"""netns + QEMU: the virtual implementation of a board on the bench (one target among others)."""
