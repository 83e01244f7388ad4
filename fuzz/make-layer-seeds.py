#!/usr/bin/env python3
"""Writes the layer target's seeds (fuzz/seeds/layer/*): one mode byte (0 flatten, 1
overlay) and a small tar. They show the fuzzer the names the sandbox's tree has (symlinks
out of it) and the entry kinds that matter: whiteouts, links, devices, escapes."""
import io
import os
import tarfile

tarfile.RECORDSIZE = 512  # no 10 KiB padding: small seeds

def entry(tar, name, kind=tarfile.REGTYPE, data=b"", link="", mode=0o644, dev=(0, 0)):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.mtime = 1700000000
    ti.linkname = link
    ti.devmajor, ti.devminor = dev
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(ti, io.BytesIO(data) if ti.size else None)

def seed(name, mode, entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for e in entries:
            entry(tar, **e)
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "layer")
    with open(os.path.join(here, name), "wb") as f:
        f.write(bytes([mode]) + buf.getvalue())

ordinary = [
    dict(name="etc/", kind=tarfile.DIRTYPE, mode=0o755),
    dict(name="etc/hostname", data=b"fuzz\n"),
    dict(name="etc/.wh.passwd"),
    dict(name="usr/bin/", kind=tarfile.DIRTYPE, mode=0o755),
    dict(name="usr/bin/sh", data=b"#!\n", mode=0o755),
    dict(name="usr/bin/ash", kind=tarfile.LNKTYPE, link="usr/bin/sh"),
    dict(name="usr/bin/.wh..wh..opq"),
    dict(name="bin", kind=tarfile.SYMTYPE, link="usr/bin"),
    dict(name="dev/null", kind=tarfile.CHRTYPE, dev=(1, 3), mode=0o666),
    dict(name="run/fifo", kind=tarfile.FIFOTYPE),
]
escapes = [
    dict(name="rel/a", data=b"x"),
    dict(name="abs/b", data=b"x"),
    dict(name="slash/tmp/c", data=b"x"),
    dict(name="usr/bin/up/tmp/d", data=b"x"),
    dict(name="../outside/e", data=b"x"),
    dict(name="/tmp/f", data=b"x"),
    dict(name="h1", kind=tarfile.LNKTYPE, link="../outside/sentinel"),
    dict(name="h2", kind=tarfile.LNKTYPE, link="rel/sentinel"),
    dict(name="h3", kind=tarfile.LNKTYPE, link="/tmp/hull-fuzz-layer/outside/sentinel"),
    dict(name="lnk", kind=tarfile.SYMTYPE, link="../outside"),
    dict(name="lnk/g", data=b"x"),
    dict(name="rel/.wh.sentinel"),
    dict(name="abs/.wh..wh..opq"),
    dict(name="etc/passwd", kind=tarfile.SYMTYPE, link="../../outside/sentinel"),
    dict(name="etc/passwd", data=b"x"),
]
seed("ordinary-flatten", 0, ordinary)
seed("ordinary-overlay", 1, ordinary)
seed("escapes-flatten", 0, escapes)
seed("escapes-overlay", 1, escapes)
