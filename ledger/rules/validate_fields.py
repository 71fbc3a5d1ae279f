"""Reading one value of a catalog's plain form, for the catalog validator (validate.py and
validate_items.py): typed readers that record every problem with its path and line instead of
stopping at the first, and the limits more than one part of a catalog shares."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from ledger.rules import spec as S
from ledger.rules.periods import PERIODS

MAX_NOTICE_DAYS = 30
MAX_STANDING_DAYS = 3 * 366
MAX_POINTS = 100_000  # per item, in points
MAX_CAP = 10**9
MAX_NAME = 100
MAX_TEXT = 2000
MAX_ERRORS = 100
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")

Path = tuple


@dataclass
class Problem:
    path: str
    message: str
    line: int | None = None

    def as_dict(self) -> dict:
        return {"line": self.line, "path": self.path, "message": self.message}


def path_str(path: Path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(file)"


class Checker:
    def __init__(self, lines: dict[Path, int] | None = None) -> None:
        self.lines = lines or {}
        self.problems: list[Problem] = []

    def err(self, path: Path, message: str) -> None:
        if len(self.problems) >= MAX_ERRORS:
            return
        line = None
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                line = self.lines[path[:n]]
                break
        self.problems.append(Problem(path_str(path), message, line))

    # --- typed readers; each returns a default after recording a problem -----------------
    def mapping(self, v, path: Path, allowed: tuple[str, ...], required: tuple[str, ...] = ()
                ) -> dict:
        if not isinstance(v, dict):
            self.err(path, "应为映射 (expected a mapping of key: value)")
            return {}
        for k in v:
            if k not in allowed:
                self.err(path + (k,), f"未知字段 {k!r} (unknown key; allowed: "
                                      f"{', '.join(allowed)})")
        for k in required:
            if k not in v:
                self.err(path, f"缺少必填字段 {k!r} (missing required key)")
        return v

    def text(self, v, path: Path, *, max_len: int = MAX_NAME, default: str = "") -> str:
        if v is None:
            return default
        if not isinstance(v, str) or not v.strip():
            self.err(path, "应为非空文本 (expected non-empty text)")
            return default
        if len(v) > max_len:
            self.err(path, f"长度超过 {max_len} 个字符 (longer than {max_len} characters)")
        return v.strip()

    def code(self, v, path: Path) -> str:
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str) or not CODE_RE.match(v):
            self.err(path, "编码须为 1–32 个字母、数字、-、_ 或 . (code: 1-32 letters, digits, "
                           "-, _ or .)")
            return str(v)
        return v

    def integer(self, v, path: Path, lo: int, hi: int, default: int | None = None) -> int | None:
        if v is None:
            return default
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            self.err(path, f"应为 {lo} 到 {hi} 之间的整数 (expected a whole number {lo}..{hi})")
            return default
        return v

    def boolean(self, v, path: Path, default: bool = False) -> bool:
        if v is None:
            return default
        if not isinstance(v, bool):
            self.err(path, "应为 true 或 false (expected true or false)")
            return default
        return v

    def day(self, v, path: Path) -> date | None:
        if v is None:
            return None
        if isinstance(v, str):
            try:
                return date.fromisoformat(v)
            except ValueError:
                pass
        elif isinstance(v, date):
            return v
        self.err(path, "应为日期 YYYY-MM-DD (expected a date)")
        return None

    def choice(self, v, path: Path, options: tuple[str, ...], default=None):
        if v is None:
            return default
        if v not in options:
            self.err(path, f"应为 {' / '.join(options)} 之一 (expected one of these)")
            return default
        return v

    def choices(self, v, path: Path, options: tuple[str, ...] | None, *, empty_ok=False
                ) -> tuple:
        if not isinstance(v, list) or (not v and not empty_ok):
            self.err(path, "应为非空列表 (expected a non-empty list)")
            return ()
        out = []
        for i, x in enumerate(v):
            if options is not None and x not in options:
                self.err(path + (i,), f"应为 {' / '.join(options)} 之一 (expected one of these)")
            elif options is None and (not isinstance(x, str | int) or isinstance(x, bool)):
                self.err(path + (i,), "应为文本或数字 (expected text or a number)")
            elif x in out:
                self.err(path + (i,), f"重复的值 {x!r} (duplicate value)")
            else:
                out.append(x)
        return tuple(out)

    def steps(self, v, path: Path, scale: int, *, positive=False, allow_zero=False,
              nonneg=False) -> int | None:
        """Points as written (5, -2, 0.5) → whole steps of the scale, or a problem that says
        exactly what is wrong with the value."""
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            self.err(path, f"应为分值数字，而不是 {v!r} (expected a number of points, not a "
                           f"{type(v).__name__})")
            return None
        try:
            f = Fraction(str(v))
        except (ValueError, ZeroDivisionError):
            self.err(path, f"应为分值数字 (not a number: {v!r})")
            return None
        s = f * scale
        if s.denominator != 1:
            self.err(path, f"分值 {v} 不是最小单位 1/{scale} 分的整数倍 (not a whole number of "
                           f"steps at scale {scale}; raise catalog.scale for fractions)")
            return None
        n = int(s)
        if n == 0 and (positive or not (allow_zero or nonneg)):
            self.err(path, "分值不能为 0 (points must not be zero"
                           + ("; a zero-point item is allowed only with a sanction)"
                              if not positive else ", must be positive)"))
            return None
        if positive and n < 0:
            self.err(path, f"应为正数 (must be positive, got {v})")
            return None
        if nonneg and n < 0:
            self.err(path, f"不能为负数 (must not be negative, got {v})")
            return None
        if abs(f) > MAX_POINTS:
            self.err(path, f"分值 {v} 超过上限 {MAX_POINTS} (more than the maximum of "
                           f"{MAX_POINTS} points)")
            return None
        return n

    def caps(self, v, path: Path, scale: int, metrics: tuple[str, ...]) -> S.Caps:
        if v is None:
            return ()
        out: dict = {}
        for metric, periods in self.mapping(v, path, metrics).items():
            for period, limit in self.mapping(periods, path + (metric,), PERIODS).items():
                p = path + (metric, period)
                if metric == "points":
                    n = self.steps(limit, p, scale, positive=True)
                else:
                    n = self.integer(limit, p, 1, MAX_CAP)
                if n is not None and metric in metrics and period in PERIODS:
                    out[(metric, period)] = n
        return S.caps_sorted(out)
