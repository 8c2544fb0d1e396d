"""Boot media: the SD card or USB key image a porter writes (``waltport media``)."""
