"""The shape of the imports (issue #18.8): the domain (`ledger/`) never imports the web layer or
the workers, and no two modules import each other, directly or round a longer loop. Every
import counts, including one written inside a function: hiding an import there still makes
the loop, it only moves the failure from start-up to the first call.

The graph comes from grimp (the library under import-linter), which reads each module's
source with `ast`; imports under `if TYPE_CHECKING:` are left out, as they never run."""

from __future__ import annotations

import textwrap

import grimp

PACKAGES = ("ledger", "api", "workers")
WEB_AND_WORKERS = ("api", "workers")

def build(*packages: str) -> grimp.ImportGraph:
    return grimp.build_graph(*packages, cache_dir=None, exclude_type_checking_imports=True)


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, without recursion:
    each is a set of modules every one of which imports every other, through the others)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:  # back in the caller: pass the lowest index up
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    component.append(m)
                    if m == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def upward_imports(graph: grimp.ImportGraph, lower: str, upper: tuple[str, ...]) -> list[str]:
    """Each import by a module of `lower` of a module in `upper`, with its line."""
    out = []
    for m in sorted(m for m in graph.modules if within(m, (lower,))):
        for target in sorted(graph.find_modules_directly_imported_by(m)):
            if within(target, upper):
                for d in graph.get_import_details(importer=m, imported=target):
                    out.append(f"{m}:{d['line_number']} imports {target}")
    return out


def describe(graph: grimp.ImportGraph, component: list[str]) -> str:
    """A cycle named by its modules and one loop through them, each step with its line."""
    first, rest = component[0], set(component[1:])
    loop = None
    for other in sorted(rest):
        there = graph.find_shortest_chain(importer=first, imported=other)
        back = graph.find_shortest_chain(importer=other, imported=first)
        if there and back:
            loop = list(there) + list(back[1:])
            break
    steps = []
    for a, b in zip(loop or [], (loop or [])[1:], strict=False):
        line = graph.get_import_details(importer=a, imported=b)
        steps.append(f"  {a}:{line[0]['line_number'] if line else '?'} -> {b}")
    return ", ".join(component) + ("\n" + "\n".join(steps) if steps else "")


def test_ledger_imports_neither_api_nor_workers():
    graph = build(*PACKAGES)
    assert upward_imports(graph, "ledger", WEB_AND_WORKERS) == []


def test_no_import_cycles():
    graph = build(*PACKAGES)
    bad = cycles(graph)
    assert not bad, "import cycles:\n" + "\n".join(describe(graph, c) for c in bad)


def test_the_checks_see_imports_inside_functions(tmp_path, monkeypatch):
    """The two checks on a package made for them: a loop closed only by an import inside a
    function, and a domain module that reaches the web layer from inside a function."""
    for name, body in {
        "jifen_probe/__init__.py": "",
        "jifen_probe/a.py": "from jifen_probe import b\n",
        "jifen_probe/b.py": "def late():\n    from jifen_probe import c\n",
        "jifen_probe/c.py": "import jifen_probe.a\n",
        "jifen_probe/d.py": "def f():\n    import jifen_probe.a\n",
    }.items():
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = build("jifen_probe")
    assert cycles(graph) == [["jifen_probe.a", "jifen_probe.b", "jifen_probe.c"]]
    assert "jifen_probe.b:2 -> jifen_probe.c" in describe(graph, cycles(graph)[0])
    assert upward_imports(graph, "jifen_probe.d", ("jifen_probe.a",)) == [
        "jifen_probe.d:2 imports jifen_probe.a"]
