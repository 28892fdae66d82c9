"""The dynamic section of an ELF file: NEEDED, SONAME, RPATH and RUNPATH."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

# dynamic section tags and the section type, from the ELF specification
DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH = 1, 14, 15, 29
SHT_DYNAMIC = 6


@dataclass(frozen=True)
class Dynamic:
    """What the loader reads from a shared object's dynamic section."""

    needed: tuple[str, ...]
    soname: str
    rpath: tuple[str, ...]  # DT_RPATH entries, as written
    runpath: tuple[str, ...]  # DT_RUNPATH entries, as written

    def own_rpath(self) -> tuple[str, ...]:
        """The DT_RPATH the loader honours: none where a DT_RUNPATH is present (ld.so(8))."""
        return () if self.runpath else self.rpath


def read_dynamic(path: Path) -> Dynamic | None:
    """The dynamic section of a 64-bit little-endian ELF file; None for anything else."""
    with path.open("rb") as file:
        head = file.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return None
        (shoff,) = struct.unpack_from("<Q", head, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", head, 0x3A)
        if shoff == 0 or shnum == 0:
            return None
        file.seek(shoff)
        table = file.read(shentsize * shnum)
        sections = [struct.unpack_from("<IIQQQQIIQQ", table, i * shentsize) for i in range(shnum)]
        for section in sections:
            if section[1] != SHT_DYNAMIC:
                continue
            offset, size, link = section[4], section[5], section[6]
            strtab = sections[link]
            file.seek(strtab[4])
            strings = file.read(strtab[5])
            file.seek(offset)
            data = file.read(size)
            needed: list[str] = []
            soname = ""
            paths: dict[int, list[str]] = {DT_RPATH: [], DT_RUNPATH: []}
            for i in range(0, len(data) - 15, 16):
                tag, value = struct.unpack_from("<qQ", data, i)
                if tag == 0:
                    break
                if tag in (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH):
                    text = strings[value : strings.index(b"\0", value)].decode()
                    if tag == DT_NEEDED:
                        needed.append(text)
                    elif tag == DT_SONAME:
                        soname = text
                    else:
                        paths[tag].extend(text.split(":"))
            return Dynamic(tuple(needed), soname, tuple(paths[DT_RPATH]), tuple(paths[DT_RUNPATH]))
    return None
