"""Messages of the holder's standing block and scheme pages (zh, en), merged into api/i18n."""

from __future__ import annotations

SCHEME_MESSAGES: dict[str, tuple[str, str]] = {
    "standing.title": ("信用与兑换", "Standing and redemption"),
    "standing.good": ("状态正常", "In good standing"),
    "standing.until": ("至 {d}", "until {d}"),
    "standing.until_back": ("恢复后自动解除", "lifted when the condition ends"),
    "standing.stops": ("暂停：{what}", "Stops: {what}"),
    "standing.effect.redeem": ("兑换", "redemption"),
    "standing.effect.draws": ("抽奖", "draws"),
    "standing.effect.honors": ("评优上榜", "honor lists"),
    "standing.effect.stars": ("星级评定", "stars"),
    "standing.effect.checkin": ("活动签到", "check-in"),
    "standing.available": ("可用 {a} 分（冻结中的订单已扣除）",
                           "{a} points available (open orders deducted)"),
    "standing.floor": ("须保留底数 {f} 分，本次最多可用 {s} 分",
                       "a base of {f} is kept; up to {s} can be spent"),
    "standing.redeem_min": ("可用积分达到 {n} 分方可兑换", "Redeem from {n} points available"),
    "standing.next_day": ("下一个兑换日：{d}", "Next redemption day: {d}"),
    "standing.may_redeem": ("现在可以兑换", "You may redeem now"),
    "standing.may_not_redeem": ("现在不能兑换", "You may not redeem now"),
    "standing.history": ("状态记录", "Standing history"),
    "standing.entered": ("进入", "entered"),
    "standing.left": ("解除", "lifted"),
}
