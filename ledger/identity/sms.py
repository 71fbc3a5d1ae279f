"""SMS senders for sign-in codes through the two common Chinese cloud SMS APIs, behind the
CodeSender interface of ledger/identity/otp.py:

- Alibaba Cloud SMS (Dysmsapi `SendSms`, version 2017-05-25), RPC style signed with
  HMAC-SHA1 (SignatureVersion 1.0): the sorted, percent-encoded parameters are signed with
  AccessKeySecret + "&".
- Tencent Cloud SMS (`SendSms`, API 3.0 version 2021-01-11), signed with TC3-HMAC-SHA256: a
  canonical request hashed, a string to sign over date/service/tc3_request, and a key derived
  from "TC3" + SecretKey through date, service and "tc3_request".

A send that fails (network, a refusal by the provider) is tried once more; a second failure is
SmsSendFailed (`sms_send_failed`, HTTP 502), logged and counted (jifen_sms_failures_total).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit

import httpx
import structlog

from ledger.config import SmsSettings
from ledger.errors import DomainError
from ledger.metrics import SMS_FAILURES, SMS_SENT
from ledger.registry.privacy import mask_phone

log = structlog.get_logger("jifen.sms")

SEND_ATTEMPTS = 2  # the first try and one retry
RETRY_DELAY_S = 0.3
MAX_RESPONSE_BYTES = 64 * 1024

ALIYUN_ENDPOINT = "https://dysmsapi.aliyuncs.com/"
ALIYUN_VERSION = "2017-05-25"
ALIYUN_REGION = "cn-hangzhou"
TENCENT_ENDPOINT = "https://sms.tencentcloudapi.com/"
TENCENT_VERSION = "2021-01-11"
TENCENT_REGION = "ap-guangzhou"
TENCENT_SERVICE = "sms"
TC3 = "TC3-HMAC-SHA256"
TC3_CONTENT_TYPE = "application/json; charset=utf-8"
TC3_SIGNED_HEADERS = ("content-type", "host", "x-tc-action")


class SmsSendFailed(DomainError):
    code = "sms_send_failed"
    status = 502
    title = "SMS not sent"


class _Refused(Exception):
    """One attempt failed: the provider's code and message (or the transport's)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def _template_values(sms: SmsSettings, code: str, ttl_s: int) -> list[tuple[str, str]]:
    known = {"code": code, "minutes": str(max(1, ttl_s // 60))}
    return [(name, known[name]) for name in sms.template_params]


class _RetryingSender:
    provider = ""

    def __init__(self, sms: SmsSettings, transport: httpx.BaseTransport | None = None) -> None:
        self.sms = sms
        self._transport = transport

    def send(self, phone: str, code: str, ttl_s: int) -> None:
        last: _Refused | None = None
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                with httpx.Client(timeout=self.sms.timeout_s, transport=self._transport) as c:
                    ref = self._send_once(c, phone, code, ttl_s)
                SMS_SENT.labels(self.provider).inc()
                log.info("sms_sent", provider=self.provider, phone=mask_phone(phone),
                         ref=ref, attempt=attempt)
                return
            except httpx.HTTPError as exc:
                last = _Refused("transport", f"{type(exc).__name__}: {exc}")
            except _Refused as exc:
                last = exc
            SMS_FAILURES.labels(self.provider, last.code[:64]).inc()
            log.warning("sms_attempt_failed", provider=self.provider, phone=mask_phone(phone),
                        attempt=attempt, provider_code=last.code, message=last.message[:200])
            if attempt < SEND_ATTEMPTS:
                time.sleep(RETRY_DELAY_S)
        assert last is not None
        log.error("sms_send_failed", provider=self.provider, phone=mask_phone(phone),
                  provider_code=last.code)
        raise SmsSendFailed("短信发送失败，请稍后再试 (the SMS could not be sent; try again later)",
                            provider=self.provider, provider_code=last.code)

    def _send_once(self, client: httpx.Client, phone: str, code: str, ttl_s: int) -> str:
        raise NotImplementedError

    @staticmethod
    def _json(resp: httpx.Response) -> dict:
        if len(resp.content) > MAX_RESPONSE_BYTES:
            raise _Refused("response_too_large", f"{len(resp.content)} bytes")
        try:
            body = resp.json()
        except ValueError:
            raise _Refused(f"http_{resp.status_code}", resp.text[:200]) from None
        if not isinstance(body, dict):
            raise _Refused("bad_response", resp.text[:200])
        return body


# ---------------------------------------------------------------------------------------------
# Alibaba Cloud: RPC style, HMAC-SHA1


def aliyun_percent(value: str) -> str:
    """RFC 3986 encoding as the signature method specifies: unreserved characters
    (A-Z a-z 0-9 - _ . ~) stay, everything else (space → %20, * → %2A) is %XX of UTF-8."""
    return quote(str(value), safe="-_.~")


def aliyun_string_to_sign(method: str, params: dict[str, str]) -> str:
    canonical = "&".join(f"{aliyun_percent(k)}={aliyun_percent(v)}"
                         for k, v in sorted(params.items()))
    return f"{method}&{aliyun_percent('/')}&{aliyun_percent(canonical)}"


def aliyun_signature(secret: str, method: str, params: dict[str, str]) -> str:
    digest = hmac.new(f"{secret}&".encode(), aliyun_string_to_sign(method, params).encode(),
                      hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunSender(_RetryingSender):
    provider = "aliyun"

    def request_params(self, phone: str, code: str, ttl_s: int, *, now: datetime | None = None,
                       nonce: str | None = None) -> dict[str, str]:
        now = now or datetime.now(timezone.utc)
        params = {
            "AccessKeyId": self.sms.access_key_id, "Action": "SendSms", "Format": "JSON",
            "RegionId": self.sms.region or ALIYUN_REGION, "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": nonce or uuid.uuid4().hex, "SignatureVersion": "1.0",
            "Timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "Version": ALIYUN_VERSION,
            "PhoneNumbers": phone, "SignName": self.sms.sign_name,
            "TemplateCode": self.sms.template_id,
            "TemplateParam": json.dumps(dict(_template_values(self.sms, code, ttl_s)),
                                        ensure_ascii=False, separators=(",", ":")),
        }
        params["Signature"] = aliyun_signature(self.sms.access_key_secret, "POST", params)
        return params

    def _send_once(self, client: httpx.Client, phone: str, code: str, ttl_s: int) -> str:
        params = self.request_params(phone, code, ttl_s)
        body = "&".join(f"{aliyun_percent(k)}={aliyun_percent(v)}" for k, v in params.items())
        resp = client.post(self.sms.endpoint or ALIYUN_ENDPOINT, content=body.encode(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        answer = self._json(resp)
        if answer.get("Code") != "OK":  # {"Code": "isv.…", "Message": …, "RequestId": …}
            raise _Refused(str(answer.get("Code") or f"http_{resp.status_code}"),
                           str(answer.get("Message", "")))
        return str(answer.get("BizId", ""))


# ---------------------------------------------------------------------------------------------
# Tencent Cloud: API 3.0, TC3-HMAC-SHA256


def _hmac256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_canonical_request(headers: dict[str, str], payload: bytes,
                          signed: tuple[str, ...] = TC3_SIGNED_HEADERS) -> str:
    """POST to / with no query string; `headers` by lower-case name. Header values are
    lower-cased and trimmed, as the signing guide says."""
    canonical_headers = "".join(f"{h}:{headers[h].strip().lower()}\n" for h in signed)
    return "\n".join(["POST", "/", "", canonical_headers, ";".join(signed),
                      hashlib.sha256(payload).hexdigest()])


def tc3_signature(secret_key: str, service: str, timestamp: int, canonical_request: str) -> str:
    date = datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join([TC3, str(timestamp), scope,
                         hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac256(_hmac256(_hmac256(f"TC3{secret_key}".encode(), date), service),
                   "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class TencentSender(_RetryingSender):
    provider = "tencent"

    def signed_request(self, phone: str, code: str, ttl_s: int,
                       timestamp: int | None = None) -> tuple[str, dict[str, str], bytes]:
        url = self.sms.endpoint or TENCENT_ENDPOINT
        host = urlsplit(url).netloc
        timestamp = int(time.time()) if timestamp is None else timestamp
        payload = json.dumps({
            "PhoneNumberSet": [f"+86{phone}"], "SmsSdkAppId": self.sms.sdk_app_id,
            "SignName": self.sms.sign_name, "TemplateId": self.sms.template_id,
            "TemplateParamSet": [v for _, v in _template_values(self.sms, code, ttl_s)],
        }, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"content-type": TC3_CONTENT_TYPE, "host": host, "x-tc-action": "SendSms"}
        signature = tc3_signature(self.sms.access_key_secret, TENCENT_SERVICE, timestamp,
                                  tc3_canonical_request(headers, payload))
        date = datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")
        headers.update({
            "authorization": (f"{TC3} Credential={self.sms.access_key_id}/{date}/"
                              f"{TENCENT_SERVICE}/tc3_request, SignedHeaders="
                              f"{';'.join(TC3_SIGNED_HEADERS)}, Signature={signature}"),
            "x-tc-timestamp": str(timestamp), "x-tc-version": TENCENT_VERSION,
            "x-tc-region": self.sms.region or TENCENT_REGION})
        return url, headers, payload

    def _send_once(self, client: httpx.Client, phone: str, code: str, ttl_s: int) -> str:
        url, headers, payload = self.signed_request(phone, code, ttl_s)
        answer = self._json(client.post(url, content=payload, headers=headers)).get("Response")
        if not isinstance(answer, dict):
            raise _Refused("bad_response", "no Response object")
        if "Error" in answer:  # {"Response": {"Error": {"Code", "Message"}, "RequestId"}}
            err = answer["Error"] or {}
            raise _Refused(str(err.get("Code", "error")), str(err.get("Message", "")))
        statuses = answer.get("SendStatusSet") or []
        if len(statuses) != 1:
            raise _Refused("bad_response", f"{len(statuses)} send statuses for one number")
        status = statuses[0]
        if status.get("Code") != "Ok":  # per number, e.g. LimitExceeded.PhoneNumberDailyLimit
            raise _Refused(str(status.get("Code")), str(status.get("Message", "")))
        return str(status.get("SerialNo", ""))


PROVIDERS = {"aliyun": AliyunSender, "tencent": TencentSender}
