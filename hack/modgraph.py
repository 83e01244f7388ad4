#!/usr/bin/env python3
"""Fails when the hull crate's modules import each other in a circle.

A "module" here is a node of this graph:
  - a file at the top of src/ (src/log.rs is `log`);
  - a file or directory one level inside a directory module (src/container/state.rs is
    `container/state`, src/security/seccomp/ with everything below it is `security/seccomp`);
  - a directory module's own mod.rs is the directory's node (`container`).
So the graph is per file, except that a second-level directory is one node: a module's
subdirectory is an implementation detail of that module. This is the granularity at which the
circles the crate had were tangles of two concerns (log -> container/state <-> container/cgroup,
rootfs/cgroup <-> rootfs/mounts, security/lsm <-> security/apparmor); at the coarser level of
top-level directories, container/, process/, rootfs/ and spec/ are layers whose files serve
one another both ways (spec validation calls process/affinity's check, process/init reads the
spec), which is not a circle between modules. src/main.rs is the binary, another crate, and
is left out.

An edge A -> B is any path in A's code that names B: `use crate::b::...`, `crate::b::x(...)`
in an expression or a type, `super::b` and `self::b` (resolved against A's module, including
inline `mod name { ... }` blocks such as `mod tests`). A `mod b;` declaration is not an edge
(it is where b lives, not a use of it). A name that a directory module re-exports
(`super::State` from container/cgroup.rs, for a `pub use state::State` in container/mod.rs)
is an edge to the directory node, and the `pub use` an edge from it to the child: the graph
sees the path as written, not where the item is defined. Paths the checker cannot see:
`$crate` inside macros, and names brought in by a glob re-export of another module.

Test code (`#[cfg(test)]` modules and files declared under `#[cfg(test)]`) counts too: it is
compiled with the crate's modules and should obey the same layering.

Usage: hack/modgraph.py [SRC_DIR]        check (default: src), exit 1 printing every cycle
       hack/modgraph.py --edges [SRC]    print every edge with the line that makes it
       hack/modgraph.py --self-test      check that the checker finds a planted cycle
Standard library only; runs in well under a second.
"""

import os
import re
import sys
import tempfile

def file_module(src, path):
    """A file's module path: src/a/b.rs -> ['a', 'b'], src/a/mod.rs -> ['a']."""
    rel = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel == ["lib"] or rel == ["main"]:
        return []
    return rel


def node_of(segments, modules):
    """The graph node of a module path (a list of names), or None for the crate root."""
    # The longest prefix that is a file module, capped at two levels.
    best = None
    for n in range(1, min(len(segments), 2) + 1):
        if tuple(segments[:n]) in modules:
            best = segments[:n]
    return "/".join(best) if best else None


STRIP = re.compile(
    r'//[^\n]*|/\*.*?\*/|b?r(#*)".*?"\1|b?"(?:\\.|[^"\\])*"|b?\'(?:\\.|[^\'\\])\'',
    re.S,
)


def strip(text):
    """Comments and string/char literals blanked out (newlines kept for line numbers)."""
    return STRIP.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


USE = re.compile(r"\buse\s+([^;]*);", re.S)
PATH = re.compile(r"\b(crate|super|self)((?:\s*::\s*(?:super\b|[A-Za-z_][A-Za-z0-9_]*))+)")
INLINE_MOD = re.compile(r"\bmod\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{")


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+as\s+[A-Za-z_][A-Za-z0-9_]*", "", tree)
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, t):
        depth, start, parts = 0, 0, []
        for i, ch in enumerate(t):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(t[start:i])
                start = i + 1
        parts.append(t[start:])
        for p in parts:
            if not p:
                continue
            if "{" in p:
                head, rest = p.split("{", 1)
                walk(prefix + head, rest[: rest.rfind("}")])
            else:
                out.append(prefix + p)

    walk("", tree)
    return out


def resolve(path, here):
    """A `crate::`/`super::`/`self::` path, seen from module `here`, as a list of names."""
    segs = [s for s in path.replace(" ", "").split("::") if s]
    if not segs:
        return None
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    elif segs[0] in ("super", "self"):
        base = list(here)
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                if not base:
                    return None
                base = base[:-1]
            segs = segs[1:]
    else:
        return None
    return base + segs


def inline_scopes(code):
    """(start, end, name) of every inline `mod name { ... }` block, by offsets."""
    scopes = []
    for m in INLINE_MOD.finditer(code):
        depth, i = 1, m.end()
        while i < len(code) and depth:
            if code[i] == "{":
                depth += 1
            elif code[i] == "}":
                depth -= 1
            i += 1
        scopes.append((m.start(), i, m.group(1)))
    return scopes


def module_at(base, scopes, offset):
    mod = list(base)
    for start, end, name in scopes:
        if start <= offset < end:
            mod.append(name)
    return mod


def edges(src):
    """Every (from_node, to_node, file, line, text) of the crate at `src`."""
    files = []
    for dirpath, _, names in os.walk(src):
        for n in sorted(names):
            if n.endswith(".rs"):
                files.append(os.path.join(dirpath, n))
    files.sort()
    modules = {tuple(file_module(src, f)) for f in files if file_module(src, f)}
    out = []
    for f in files:
        base = file_module(src, f)
        if os.path.basename(f) == "main.rs":
            continue  # the binary: its own crate
        here_node = node_of(base, modules) if base else None
        with open(f, encoding="utf-8") as fh:
            code = strip(fh.read())
        scopes = inline_scopes(code)
        found = []
        uses = list(USE.finditer(code))
        for m in uses:
            mod = module_at(base, scopes, m.start())
            for p in expand_use(m.group(1)):
                r = resolve(p, mod)
                if r is not None:
                    found.append((m.start(), r, p))
        in_use = [(m.start(), m.end()) for m in uses]
        for m in PATH.finditer(code):
            if any(s <= m.start() < e for s, e in in_use):
                continue
            mod = module_at(base, scopes, m.start())
            r = resolve(m.group(0), mod)
            if r is not None:
                found.append((m.start(), r, re.sub(r"\s+", "", m.group(0))))
        for offset, target, text in found:
            to = node_of(target, modules)
            if to is None or here_node is None or to == here_node:
                continue
            line = code.count("\n", 0, offset) + 1
            out.append((here_node, to, os.path.relpath(f, src), line, text))
    return out


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan), sorted."""
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(comps)


def shortest_cycle_through(graph, start, allowed):
    """A shortest cycle start -> ... -> start inside `allowed` (BFS), as a node list."""
    prev = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph.get(v, ())):
            if w not in allowed:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return None


def check(src, out=sys.stdout):
    es = edges(src)
    graph, why = {}, {}
    for a, b, f, line, text in es:
        graph.setdefault(a, set()).add(b)
        why.setdefault((a, b), (f, line, text))
    comps = cycles(graph)
    if not comps:
        nodes = len(set(graph) | {b for bs in graph.values() for b in bs})
        print(f"modgraph: {nodes} modules, {len(es)} references, no import cycle", file=out)
        return 0
    for comp in comps:
        allowed = set(comp)
        print(f"modgraph: import cycle among {len(comp)} modules: {', '.join(comp)}", file=out)
        # Every edge inside the component, with where it comes from: each is part of a cycle.
        seen = set()
        for v in comp:
            cyc = shortest_cycle_through(graph, v, allowed)
            if cyc is None:
                continue
            key = tuple(cyc[:-1])
            rot = min(key[i:] + key[:i] for i in range(len(key)))
            if rot in seen:
                continue
            seen.add(rot)
            print("  cycle: " + " -> ".join(cyc), file=out)
            for a, b in zip(cyc, cyc[1:]):
                f, line, text = why[(a, b)]
                print(f"    {a} -> {b}: {f}:{line}: {text}", file=out)
    return 1


def self_test():
    """A synthetic crate with a planted cycle a -> b/c -> a (through super:: and a use
    group), and the same crate with the cycle broken: the checker must tell them apart."""
    with tempfile.TemporaryDirectory(prefix="modgraph-") as tmp:
        src = os.path.join(tmp, "src")
        os.makedirs(os.path.join(src, "b"))

        def put(rel, text):
            with open(os.path.join(src, rel), "w", encoding="utf-8") as fh:
                fh.write(text)

        put("lib.rs", "pub mod a;\npub mod b;\npub mod leaf;\n")
        put("a.rs", "use crate::b::{c::Thing, d};\n// use crate::leaf; (a comment)\n")
        put("b/mod.rs", "pub mod c;\npub mod d;\n")
        put("b/c.rs", 'pub struct Thing;\nfn f() { super::super::a::g(); let _ = "crate::leaf"; }\n')
        put("b/d.rs", "#[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::leaf::X;\n}\n")
        put("leaf.rs", "pub struct X;\n")
        sink = open(os.devnull, "w")
        failures = []
        if check(src, sink) != 1:
            failures.append("the planted cycle a -> b/c -> a was not found")
        got = {(a, b) for a, b, *_ in edges(src)}
        want = {("a", "b/c"), ("a", "b/d"), ("b/c", "a"), ("b/d", "leaf")}
        if got != want:
            failures.append(f"edges {sorted(got)}, want {sorted(want)}")
        comps = cycles({"a": {"b/c"}, "b/c": {"a"}, "x": {"y"}})
        if comps != [["a", "b/c"]]:
            failures.append(f"components {comps}")
        put("b/c.rs", "pub struct Thing;\nfn f() { crate::leaf::X; }\n")
        if check(src, sink) != 0:
            failures.append("a tree without a cycle was refused")
        sink.close()
    for f in failures:
        print("modgraph self-test: " + f, file=sys.stderr)
    if not failures:
        print("modgraph self-test: ok")
    return 1 if failures else 0


def main(argv):
    if argv[1:2] == ["--self-test"]:
        return self_test()
    if argv[1:2] == ["--edges"]:
        src = argv[2] if len(argv) > 2 else "src"
        for a, b, f, line, text in edges(src):
            print(f"{a} -> {b}\t{f}:{line}\t{text}")
        return 0
    src = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src")
    return check(os.path.normpath(src))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
