"""The bench server: WalT-compatible DHCP + TFTP (+ RA), its registry, captures and analysis."""
