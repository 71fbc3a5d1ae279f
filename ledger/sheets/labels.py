"""Chinese labels for the codes a downloaded sheet would otherwise show (`redeem`, `person`,
`issued`): one map per code set, used by every CSV and .xlsx export (exports, settlement, the
village's yearly CSV). An unknown code is shown as it is, so a new code is visible, not lost."""

from __future__ import annotations

ENTRY_KINDS = {"award": "加分", "deduct": "扣分", "sanction": "清零", "reverse": "冲正",
               "redeem": "兑换", "allocate": "预算下拨", "rebalance": "预算调整",
               "expire": "过期", "total": "合计"}
ORDER_STATUS = {"issued": "待领取", "used": "已领取", "cancelled": "已取消", "expired": "已过期"}
HOLDERS = {"person": "个人", "household": "家庭", "team": "队伍"}
FUNDED_BY = {"holder": "本人积分", "draw": "抽奖（镇出资）"}
UNITS = {"points": "积分", "minutes": "分钟"}


def label(labels: dict[str, str], code: str | None) -> str:
    """The Chinese label of a code ('' for none; the code itself when it has no label yet)."""
    if code is None or code == "":
        return ""
    return labels.get(code, code)
