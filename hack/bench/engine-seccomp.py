#!/usr/bin/env python3
"""Resolves a Docker/containers-format seccomp profile (archMap, includes/excludes by arch,
capability and kernel version) into the runtime-spec `linux.seccomp` object an engine writes
into config.json for an amd64 container with the given capabilities on a 6.x kernel: what
dockerd and podman hand the runtime.

    engine-seccomp.py PROFILE CAP...   > seccomp.json
"""
import json
import sys

ARCH = "amd64"


def resolve(profile, caps):
    out = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    for a in profile.get("archMap") or []:
        if a["architecture"] == "SCMP_ARCH_X86_64":
            out["architectures"] = ["SCMP_ARCH_X86_64"] + (a.get("subArchitectures") or [])
    syscalls = []
    for rule in profile["syscalls"]:
        inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
        if ARCH in (exc.get("arches") or []) or set(exc.get("caps") or []) & caps:
            continue
        if inc.get("arches") and ARCH not in inc["arches"]:
            continue
        if not set(inc.get("caps") or []) <= caps:
            continue
        # includes.minKernel: every rule's minimum is below 6.0, the kernels this runs on.
        s = {"names": rule["names"], "action": rule["action"]}
        if rule.get("errnoRet") is not None:
            s["errnoRet"] = rule["errnoRet"]
        if rule.get("args"):
            s["args"] = rule["args"]
        syscalls.append(s)
    out["syscalls"] = syscalls
    return out


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        profile = json.load(f)
    json.dump(resolve(profile, set(sys.argv[2:])), sys.stdout)
