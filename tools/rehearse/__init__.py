"""Rehearse an image without an engine: its root filesystem built here, the app run inside.

Run it with ``make rehearse`` (``python -m tools.rehearse``, as root; ``__main__``
documents the command). It replays the module's own plan for one image (``replay``)
onto overlayfs layers (``layers``), running each step chrooted in namespaces of its own
(``sandbox``), over stand-ins for what lies outside the plan: the base images
(``standins``, ``standins.toml``), the git trees (``sources``) and the weights' downloads
(``weights``, ``standin_weights.py``). Then it runs the probe as ``verify`` does, cut off
from the network, as the image's user. ``docs/rehearsal.md`` lists every stand-in and
what a rehearsal cannot show.
"""
