"""``waltport probe``: ask a board's own bootloader, over its console, what a profile needs."""
