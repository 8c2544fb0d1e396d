"""Notebook displays: the profile form of 00-board, the probe views of 06-probe."""

from waltport.widgets.form import ProfileForm

__all__ = ["ProfileForm"]
