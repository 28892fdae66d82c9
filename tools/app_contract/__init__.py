"""Derive EGSTalker's dependency contract from its source and an installed environment.

Run it with ``python -m tools.app_contract`` (cli.py documents the command). Its modules:

- ``source``: one Python file's imports and commands, read with ``ast``;
- ``app``: the app's tree and where an import of its code leads;
- ``reach``: what each entry point reaches, and the gaps in the app;
- ``environment``: the distributions of a site-packages folder;
- ``catalog``: our requirement files, base-provides.toml and system-packages.toml;
- ``elf`` and ``sonames``: the system libraries the wheels' shared objects need;
- ``contract``: the contract assembled from all of them;
- ``entry_points`` and ``errors``: the app's entry points, and the error for bad inputs.
"""
