"""The project's developer tools (not shipped): run them with ``python -m tools.NAME``."""
