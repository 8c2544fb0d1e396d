"""waltport: take a new kind of board from nothing to a booting WalT node, with evidence."""

__version__ = "0.1.0"
