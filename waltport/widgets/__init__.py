"""The ipywidgets profile form of notebook 00-board."""

from waltport.widgets.form import ProfileForm

__all__ = ["ProfileForm"]
