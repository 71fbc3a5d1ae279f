"""Messages of sign-in through WeChat and of operations (zh, en), merged into api/i18n.py."""

from __future__ import annotations

OPS_MESSAGES: dict[str, tuple[str, str]] = {
    "wechat.bind_by_sms": ("首次在微信中打开：请用手机验证码登录一次，之后在微信里打开链接会自动识别您。",
                           "First time in WeChat: sign in once with an SMS code; after that "
                           "WeChat recognises you."),
    "err.wechat_auth_failed": ("微信授权失败，请用手机验证码登录", "WeChat sign-in failed; use an "
                               "SMS code"),
    "err.sms_send_failed": ("短信发送失败，请稍后再试", "The SMS could not be sent; try again later"),
}
