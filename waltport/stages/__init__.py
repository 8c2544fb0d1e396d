"""Thin stage functions the notebooks call: one module per stage, each writes ``<stage>.json``."""
