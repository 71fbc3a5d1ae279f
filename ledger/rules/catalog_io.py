"""Catalog files: YAML in (with the line of every key kept, so errors point at a line) and
YAML out (the canonical form, which loads back to an equal catalog)."""

from __future__ import annotations

from pathlib import Path as FsPath

import structlog
import yaml

from ledger.errors import InvalidInput
from ledger.rules import plain
from ledger.rules import spec as S
from ledger.rules.validate import CatalogInvalid, build
from ledger.rules.validate_fields import Problem

MAX_CATALOG_BYTES = 1024 * 1024
MAX_DEPTH = 12
# Hostile-input bounds, checked on the event stream before anything is built (PyYAML's parser
# is iterative; its composer is recursive, so depth is refused before composing). Shipped
# catalogs: under 1,000 nodes, nesting 7, scalars under 60 characters.
MAX_COMPOSE_DEPTH = 32
MAX_CATALOG_NODES = 20_000
MAX_SCALAR_CHARS = 10_000
MAX_NUMBER_CHARS = 30  # an integer or float written with more characters is refused
log = structlog.get_logger("jifen.rules")
CATALOG_DIR = FsPath(__file__).parent / "catalogs"
SHIPPED = ("baogai", "household_1000", "volunteer_hours", "family_bank", "volunteer_levels",
           "multi_currency")
DEFAULT_CATALOG = "baogai"


class Hostile(InvalidInput):
    """A catalog file using what catalogs never need and attackers do: anchors and aliases,
    merge keys, tags, deep nesting, huge scalars or numbers, too many nodes."""

    def __init__(self, code: str, message: str, line: int | None) -> None:
        log.warning("catalog_refused", code=code, line=line)  # one line, no traceback
        where = f"第 {line} 行 " if line else ""
        super().__init__(f"目录文件被拒绝：{where}{message}", code=code,
                         errors=[Problem("(file)", message, line).as_dict()])


def _screen(text: str) -> None:
    """Walk the YAML events (no node is built) and refuse the first hostile construct."""
    loader = _Loader(text)
    depth = nodes = 0
    try:
        while _next_event_ready(loader):
            ev = loader.get_event()
            line = ev.start_mark.line + 1 if ev.start_mark else None
            if isinstance(ev, yaml.AliasEvent) or getattr(ev, "anchor", None) is not None:
                raise Hostile("catalog_alias", "目录不允许锚点与别名 (& and * are not allowed "
                              "in catalogs)", line)
            if isinstance(ev, yaml.NodeEvent):
                nodes += 1
                if nodes > MAX_CATALOG_NODES:
                    raise Hostile("catalog_too_large", f"超过 {MAX_CATALOG_NODES} 个节点 (more "
                                  f"than {MAX_CATALOG_NODES} nodes)", line)
                if getattr(ev, "tag", None) is not None and ev.tag != "!":
                    raise Hostile("catalog_tag", f"目录不允许标签 {ev.tag[:60]!r} (tags are "
                                  "not allowed in catalogs)", line)
            if isinstance(ev, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_COMPOSE_DEPTH:
                    raise Hostile("catalog_too_deep", f"嵌套超过 {MAX_COMPOSE_DEPTH} 层 (nested "
                                  f"deeper than {MAX_COMPOSE_DEPTH})", line)
            elif isinstance(ev, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(ev, yaml.ScalarEvent):
                _screen_scalar(loader, ev, line)
    finally:
        loader.dispose()


def _next_event_ready(loader) -> bool:
    try:
        return loader.check_event()
    except yaml.YAMLError as exc:  # libyaml stops flow nesting past 1,000 by itself
        if "nesting depth" in str(exc):
            mark = getattr(exc, "problem_mark", None)
            raise Hostile("catalog_too_deep", f"嵌套超过 {MAX_COMPOSE_DEPTH} 层 (nested deeper "
                          f"than {MAX_COMPOSE_DEPTH})", mark.line + 1 if mark else None) from None
        raise


def _screen_scalar(loader, ev: yaml.ScalarEvent, line: int | None) -> None:
    if len(ev.value) > MAX_SCALAR_CHARS:
        raise Hostile("catalog_too_large", f"文本超过 {MAX_SCALAR_CHARS} 字 (a value longer "
                      f"than {MAX_SCALAR_CHARS} characters)", line)
    if ev.implicit[0]:  # plain: the resolver decides what it is
        tag = loader.resolve(yaml.ScalarNode, ev.value, ev.implicit)
        if tag == "tag:yaml.org,2002:merge":
            raise Hostile("catalog_merge", "目录不允许合并键 << (merge keys are not allowed "
                          "in catalogs)", line)
        if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") \
                and len(ev.value) > MAX_NUMBER_CHARS:
            raise Hostile("catalog_number_too_long", f"数字超过 {MAX_NUMBER_CHARS} 位 (a number "
                          f"longer than {MAX_NUMBER_CHARS} characters)", line)


# libyaml's parser where installed: PyYAML's pure-Python scanner takes seconds on a 200 KB flow
# list (it is quadratic there), which one request must not cost.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):
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
    try:
        return ctor.construct_object(node, deep=True)
    except (ValueError, OverflowError, yaml.YAMLError) as exc:  # e.g. a date 2026-13-45
        problems.append(Problem(".".join(map(str, path)), f"无效的值 (invalid value): "
                                f"{str(exc)[:120]}", node.start_mark.line + 1))
        return None


def parse_yaml(text: str) -> tuple[object, dict[tuple, int], list[Problem]]:
    """YAML text → (plain data, line of each path, syntax problems); a hostile file raises
    `Hostile` before any node is built."""
    if len(text.encode("utf-8")) > MAX_CATALOG_BYTES:
        return None, {}, [Problem("(file)", f"文件超过 {MAX_CATALOG_BYTES} 字节 (file larger "
                                             f"than {MAX_CATALOG_BYTES} bytes)")]
    loader = None
    try:
        _screen(text)  # raises Hostile (each with its own catalog_* code)
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
    return plain_json_value(plain.to_dict(c))


def dump_text(c: S.Catalog) -> str:
    head = (f"# 积分规则目录 {c.name} ({c.code})"
            + (" — 演示目录 DEMO，非正式公布的细则" if c.demo else "") + "\n"
            "# 格式说明见 docs/rules.md；本文件可直接用 `jifen catalog load` 导入。\n")
    body = yaml.dump(plain.to_dict(c), Dumper=_Dumper, allow_unicode=True, sort_keys=False,
                     default_flow_style=False, width=100, indent=2)
    return head + body


def shipped_path(code: str) -> FsPath:
    if code not in SHIPPED:
        raise InvalidInput(f"no shipped catalog {code!r}", code="catalog_not_found")
    return CATALOG_DIR / f"{code}.yaml"


def load_shipped(code: str = DEFAULT_CATALOG) -> S.Catalog:
    return load_text(shipped_path(code).read_text(encoding="utf-8"))
