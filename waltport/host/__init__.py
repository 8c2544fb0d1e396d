"""The host's low-level pieces, below ``net/``, ``image/`` and ``lab/``: network
namespaces (and their guardian), cpio archives, the private apt that fetches
Debian packages, child processes that die with their parent."""
