"""Boards under test and their boot: the target model, the boot sequence, the virtual lab.

``target/`` the board's ports (power, console, link) and their implementations;
``virtual/`` netns + QEMU, one implementation among others; ``sequence.py``
(stages from evidence) and ``drive.py`` (the sequence driven on any target);
``boot.py`` (virtual boards, stand-ins) and ``benchboot.py`` (a real board of a
bench file, ``bench.py``) build the targets; ``cardcheck.py`` boots a built
Raspberry Pi 3 card under QEMU (``waltport media --verify``).
"""
