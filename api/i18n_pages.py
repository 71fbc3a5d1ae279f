"""Messages added with the role walks (issue 17): errors in Chinese whatever the domain's
detail says, role homes, notes on draws and vouchers. (zh, en) pairs, merged in api/i18n.py."""

from __future__ import annotations

PAGES_MESSAGES: dict[str, tuple[str, str]] = {
    # an error with no message of its own: by its HTTP status
    "err.status_400": ("请求有误，请检查后重试", "The request is not valid"),
    "err.status_403": ("您无权进行此操作", "You may not do this"),
    "err.status_404": ("找不到您要的内容", "Not found"),
    "err.status_409": ("与当前状态冲突，请刷新页面后重试", "Conflicts with the current state; reload"),
    "err.status_422": ("填写的内容有误，请检查后重试", "Please check what you entered"),
    "err.status_429": ("操作太频繁，请稍后再试", "Too many tries; wait a moment"),
    "err.status_500": ("系统出错了，请稍后再试", "Something went wrong; try again later"),
    "err.honor_list_not_found": ("没有这份光荣榜", "No such honor list"),
    "err.rule_item_not_for_activity": ("这个条目不能用于活动签到计分，请选择加分条目",
                                       "This item cannot pay attendance; choose an earning item"),
    "err.activity_item_deduction": ("扣分条目不能用于活动签到计分",
                                    "A deduction item cannot pay attendance"),
    "err.not_permitted": ("您无权以此方式记录该条目", "You may not record this item this way"),
    "err.self_award_forbidden": ("不能为本人或本户记分", "No points for yourself or your household"),
    "err.evidence_required": ("该条目需要提供佐证材料（照片或说明）",
                              "This item needs evidence (a photo or a note)"),
    "err.item_ambiguous": ("该条目在多个目录中，请选择具体目录", "The item is in several catalogs"),
    "err.scale_invalid": ("最小计分单位不在允许范围内", "The scale is not allowed"),
    "common.unit_points": ("分", "points"),
    "me.prize": ("抽奖奖品，镇里出资", "Prize, paid by the town"),
    "voucher.paid_by_town": ("镇里出资，不扣您的积分", "Paid by the town, not from your points"),
    "clerk.handed_over": ("已交付", "Handed over"),
    "rewards.total": ("合计", "Total"),
    "draw.everyone_won": ("符合条件的只有 {n} 人，少于 {w} 个名额：全部中奖，余下 {left} 个名额未抽出",
                          "Only {n} eligible for {w} prizes: all of them won, {left} prizes left"),
    "me.staff_account": ("这是工作账号，没有个人积分。", "This is a staff account: it holds no points."),
    "me.to_work": ("去工作台", "Go to my work"),
    "photo.pick": ("拍照或选择照片", "Take or choose a photo"),
    "photo.none": ("未选择照片", "No photo chosen"),
    # the levels of a graded item (catalog keys → what people read)
    "level.national": ("国家级", "national"),
    "level.provincial": ("省级", "provincial"),
    "level.city": ("市级", "city"),
    "level.county": ("县级", "county"),
    "level.town": ("镇级", "town"),
    "level.village": ("村级", "village"),
}
