"""Presentation of the domain's answers: each journal entry put in words (what, why, from
which evidence) for a holder's history, and what an offered item is worth as a form shows it.
The figures come from the domain (ledger.journal.queries, ledger.rules.offers)."""

from __future__ import annotations


from ledger.journal.schemas import Statement, StatementLine
from ledger.rules.offers import offer_of
from ledger.rules.schemas import OfferedItem

HISTORY_PAGE = 20
# Entry details → message keys, in the order a person reads them. Rule awards carry catalog,
# versions and inputs (ledger.rules.service.entry_details); other entries their own keys.
WHY_KEYS = (("item_name", "why.item"), ("item", "why.item_code"),
            ("activity_title", "why.activity"), ("minutes", "why.minutes"),
            ("counted_minutes", "why.minutes"), ("base_points", "why.base_points"),
            ("note", "why.note"), ("level", "why.level"), ("reward_name", "why.reward"),
            ("order_id", "why.order"), ("quantity", "why.quantity"))
INPUT_KEYS = ("activity_title", "activity_id", "minutes", "note", "level", "inspection_id")


def _fmt(value) -> str:
    if isinstance(value, dict):
        return "，".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "，".join(_fmt(v) for v in value)
    return str(value)


def explain(item: StatementLine, t) -> dict:
    """A statement line as the history shows it: a title and the 'why' rows (rule item and
    its version, the activity or inspection behind it, multiplier, source, entry number)."""
    d = dict(item.details or {})
    inputs = dict(d.get("inputs") if isinstance(d.get("inputs"), dict) else {})
    if isinstance(inputs.get("refs"), dict):  # the activity or inspection behind the award
        inputs = {**inputs["refs"], **inputs}
    for k in INPUT_KEYS:  # the evidence the rule used: activity, minutes, note
        if inputs.get(k) not in (None, "") and d.get(k) in (None, ""):
            d[k] = inputs[k]
    why = []
    seen = set()
    for key, label in WHY_KEYS:
        if d.get(key) not in (None, "", [], {}) and label not in seen:
            why.append((t(label), _fmt(d[key])))
            seen.add(label)
    if d.get("catalog"):
        why.append((t("why.version"), t("why.version_text", catalog=d["catalog"],
                                        cv=d.get("catalog_version", "?"),
                                        iv=d.get("item_version", "?"))))
    mult = d.get("multiplier")
    if isinstance(mult, dict) and mult:
        why.append((t("why.multiplier"), _fmt(mult.get("name") or mult)
                    + (f" ×{mult['factor']}" if mult.get("factor") else "")))
    if d.get("activity_id"):
        why.append((t("why.activity_id"), f"#{d['activity_id']}"))
    if d.get("inspection_id"):
        why.append((t("why.inspection"), f"#{d['inspection_id']}"))
    if item.source:
        why.append((t("why.source"), t("source." + item.source, default=item.source)))
    if item.reverses_id:
        why.append((t("why.reverses"), f"#{item.reverses_id}"))
    why.append((t("why.entry"), f"#{item.entry_id}"))
    title = d.get("item_name") or item.memo or t("kind." + item.kind, default=item.kind)
    return {"amount": item.amount, "kind": item.kind, "at": item.at, "title": title,
            "why": why}


def history(statement: Statement | None, t) -> dict:
    """A page of a holder's statement (ledger.journal.queries.holder_statement) in words."""
    if statement is None:
        return {"items": [], "next_before_seq": None}
    return {"items": [explain(i, t) for i in statement.items],
            "next_before_seq": statement.next_before_seq}


def offered_text(o: OfferedItem, t, *, sign: bool = False) -> str:  # noqa: ANN001
    """What an offered item is worth, as a form or the catalog page shows it: "+5", "2 ~ 10",
    "国家级 100，省级 50" (level names in the page's language)."""
    if o.range is not None:
        return f"{o.range[0]} ~ {o.range[1]}"
    if o.levels:
        return "，".join(f"{t('level.' + name, default=name)} {v}" for name, v in o.levels)
    return f"{o.points:+}" if sign else str(o.points)


def offered_option(o: OfferedItem, t) -> tuple[str, str]:  # noqa: ANN001
    """A form's option for an offered item: its code, and "code name（+5）"."""
    return o.code, f"{o.code} {o.name}（{offered_text(o, t, sign=True)}）"


def item_points_text(c, it, t, *, sign: bool = False) -> str:  # noqa: ANN001
    """`offered_text` of a catalog's item (the catalog page)."""
    return offered_text(offer_of(c, it), t, sign=sign)


