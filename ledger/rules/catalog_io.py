"""Catalog files: YAML in (with the line of every key kept, so errors point at a line) and
YAML out (the canonical form, which loads back to an equal catalog)."""

from __future__ import annotations

from pathlib import Path as FsPath

import yaml

from ledger.errors import InvalidInput
from ledger.rules import spec as S
from ledger.rules.checker import Problem
from ledger.rules.validate import CatalogInvalid, build

MAX_CATALOG_BYTES = 1024 * 1024
MAX_DEPTH = 12
CATALOG_DIR = FsPath(__file__).parent / "catalogs"
SHIPPED = ("baogai", "household_1000", "volunteer_hours", "family_bank")
DEFAULT_CATALOG = "baogai"


class _Loader(yaml.SafeLoader):
    """Safe loader; we walk the composed node tree ourselves to keep lines and catch
    duplicate keys (plain PyYAML keeps the last value silently)."""


class _Dumper(yaml.SafeDumper):
    """Short lists of plain values on one line ([person, household]), the rest in blocks."""


def _represent_list(dumper: yaml.SafeDumper, data: list):
    flow = all(isinstance(x, str | int | float) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def _walk(node: yaml.Node, path: tuple, lines: dict, problems: list[Problem],
          ctor: yaml.constructor.SafeConstructor, depth: int = 0):
    lines.setdefault(path, node.start_mark.line + 1)
    if depth > MAX_DEPTH:
        problems.append(Problem(".".join(map(str, path)), "嵌套过深 (nested too deep)",
                                node.start_mark.line + 1))
        return None
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                problems.append(Problem(".".join(map(str, path)), "键须为文本 (keys must be "
                                        "plain text)", knode.start_mark.line + 1))
                continue
            key = ctor.construct_object(knode, deep=True)
            if key in out:
                problems.append(Problem(".".join(map(str, path + (key,))),
                                        f"重复的键 {key!r} (duplicate key)",
                                        knode.start_mark.line + 1))
                continue
            lines[path + (key,)] = knode.start_mark.line + 1
            out[key] = _walk(vnode, path + (key,), lines, problems, ctor, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(v, path + (i,), lines, problems, ctor, depth + 1)
                for i, v in enumerate(node.value)]
    return ctor.construct_object(node, deep=True)


def parse_yaml(text: str) -> tuple[object, dict[tuple, int], list[Problem]]:
    """YAML text → (plain data, line of each path, syntax problems)."""
    if len(text.encode("utf-8")) > MAX_CATALOG_BYTES:
        return None, {}, [Problem("(file)", f"文件超过 {MAX_CATALOG_BYTES} 字节 (file larger "
                                             f"than {MAX_CATALOG_BYTES} bytes)")]
    loader = None
    try:
        loader = _Loader(text)  # refuses unprintable characters already
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        if isinstance(exc, yaml.reader.ReaderError):
            line = text.count("\n", 0, exc.position) + 1
        return None, {}, [Problem("(file)", f"YAML 语法错误 (syntax error): "
                                            f"{getattr(exc, 'problem', None) or exc}", line)]
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        return None, {}, [Problem("(file)", "文件为空 (empty file)", 1)]
    lines: dict = {}
    problems: list[Problem] = []
    data = _walk(node, (), lines, problems, yaml.constructor.SafeConstructor())
    return data, lines, problems


def _refuse(problems: list[Problem]) -> InvalidInput:
    first = problems[0]
    where = f"第 {first.line} 行 " if first.line else ""
    return InvalidInput(f"目录文件有 {len(problems)} 处错误，未做任何更改；{where}{first.path}: "
                        f"{first.message}", code="catalog_invalid",
                        errors=[p.as_dict() for p in problems])


def load_text(text: str) -> S.Catalog:
    """Parse and check a catalog file; raise `catalog_invalid` with line-level errors."""
    data, lines, problems = parse_yaml(text)
    if problems:
        raise _refuse(problems)
    try:
        return build(data, lines)
    except CatalogInvalid as exc:
        raise _refuse(exc.problems) from None


def from_plain(data: dict) -> S.Catalog:
    """The stored JSON form back to a Catalog (it was valid when stored)."""
    try:
        return build(data)
    except CatalogInvalid as exc:
        raise _refuse(exc.problems) from None


def plain_json_value(v):
    """Dates as ISO text, everything else as it is: ready for a JSON column."""
    if isinstance(v, dict):
        return {k: plain_json_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain_json_value(x) for x in v]
    return v.isoformat() if hasattr(v, "isoformat") else v


def plain_json(c: S.Catalog) -> dict:
    """The canonical form with dates as ISO text, for JSON columns and the API."""
    return plain_json_value(S.to_dict(c))


def dump_text(c: S.Catalog) -> str:
    head = (f"# 积分规则目录 {c.name} ({c.code})"
            + (" — 演示目录 DEMO，非正式公布的细则" if c.demo else "") + "\n"
            "# 格式说明见 docs/rules.md；本文件可直接用 `jifen catalog load` 导入。\n")
    body = yaml.dump(S.to_dict(c), Dumper=_Dumper, allow_unicode=True, sort_keys=False,
                     default_flow_style=False, width=100, indent=2)
    return head + body


def shipped_path(code: str) -> FsPath:
    if code not in SHIPPED:
        raise InvalidInput(f"no shipped catalog {code!r}", code="catalog_not_found")
    return CATALOG_DIR / f"{code}.yaml"


def load_shipped(code: str = DEFAULT_CATALOG) -> S.Catalog:
    return load_text(shipped_path(code).read_text(encoding="utf-8"))
