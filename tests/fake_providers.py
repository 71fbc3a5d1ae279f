"""Local fakes of the outside services Jifen talks to: Alibaba Cloud SMS, Tencent Cloud SMS and
WeChat web authorization. Each is a small HTTP server on 127.0.0.1 that checks a request the
way its provider documents it (the signature is recomputed here from the documents, not with
Jifen's code) and answers in the provider's documented shapes. Never the real services."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlencode, urlsplit


class FakeServer:
    """A threaded HTTP server whose handler calls self.handle(method, path, query, headers,
    body) → (status, headers, body bytes)."""

    def __init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                status, headers, out = fake.handle(
                    self.command, parts.path, dict(parse_qsl(parts.query)),
                    {k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _any

            def log_message(self, *_a) -> None:
                pass

        self.requests: list[dict] = []
        self.fail_next = 0  # answer this many requests with the provider's refusal
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, method, path, query, headers, body):  # noqa: ANN001
        raise NotImplementedError

    @staticmethod
    def json(status: int, obj) -> tuple[int, dict, bytes]:  # noqa: ANN001
        return status, {"Content-Type": "application/json; charset=utf-8"}, \
            json.dumps(obj, ensure_ascii=False).encode()

    def take_failure(self) -> bool:
        if self.fail_next > 0:
            self.fail_next -= 1
            return True
        return False


class FakeAliyunSms(FakeServer):
    """Dysmsapi SendSms, RPC style: form parameters, Signature = Base64(HMAC-SHA1(secret + '&',
    'POST&%2F&' + percentEncode(sorted canonical query)))."""

    REQUIRED = ("AccessKeyId", "Action", "Format", "RegionId", "SignatureMethod",
                "SignatureNonce", "SignatureVersion", "Timestamp", "Version", "PhoneNumbers",
                "SignName", "TemplateCode")

    def __init__(self, key_id: str, secret: str) -> None:
        super().__init__()
        self.key_id, self.secret = key_id, secret
        self.nonces: set[str] = set()

    @staticmethod
    def _enc(s: str) -> str:
        return quote(s.encode("utf-8"), safe="~-_.")

    def expected_signature(self, method: str, params: dict) -> str:
        pairs = sorted((self._enc(k), self._enc(v)) for k, v in params.items()
                       if k != "Signature")
        query = "&".join(k + "=" + v for k, v in pairs)
        to_sign = method + "&" + self._enc("/") + "&" + self._enc(query)
        mac = hmac.new((self.secret + "&").encode(), to_sign.encode("utf-8"), hashlib.sha1)
        return base64.b64encode(mac.digest()).decode()

    def handle(self, method, path, query, headers, body):  # noqa: ANN001
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)) \
            if method == "POST" else dict(query)
        self.requests.append(params)
        rid = secrets.token_hex(8).upper()
        missing = [k for k in self.REQUIRED if k not in params]
        if missing:
            return self.json(400, {"RequestId": rid, "Code": "MissingParameter",
                                   "Message": f"missing {missing[0]}"})
        if params["AccessKeyId"] != self.key_id:
            return self.json(404, {"RequestId": rid, "Code": "InvalidAccessKeyId.NotFound",
                                   "Message": "Specified access key is not found."})
        if (params["SignatureMethod"], params["SignatureVersion"]) != ("HMAC-SHA1", "1.0"):
            return self.json(400, {"RequestId": rid, "Code": "InvalidSignatureMethod",
                                   "Message": "bad signature method"})
        if params.get("Signature") != self.expected_signature(method, params):
            return self.json(400, {"RequestId": rid, "Code": "SignatureDoesNotMatch",
                                   "Message": "Specified signature is not matched with our "
                                              "calculation."})
        datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")  # ISO 8601, UTC
        if params["SignatureNonce"] in self.nonces:
            return self.json(400, {"RequestId": rid, "Code": "SignatureNonceUsed",
                                   "Message": "Specified signature nonce was used already."})
        self.nonces.add(params["SignatureNonce"])
        if (params["Action"], params["Version"]) != ("SendSms", "2017-05-25"):
            return self.json(400, {"RequestId": rid, "Code": "InvalidAction",
                                   "Message": "bad action"})
        json.loads(params.get("TemplateParam") or "{}")
        if self.take_failure():
            return self.json(200, {"RequestId": rid, "Code": "isv.BUSINESS_LIMIT_CONTROL",
                                   "Message": "触发分钟级流控Permits:1"})
        return self.json(200, {"Message": "OK", "RequestId": rid, "Code": "OK",
                               "BizId": f"{secrets.randbelow(10**12)}^0"})


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeTencentSms(FakeServer):
    """SMS SendSms, API 3.0: JSON body, Authorization 'TC3-HMAC-SHA256 Credential=…/date/sms/
    tc3_request, SignedHeaders=…, Signature=…' recomputed from the signed headers received."""

    def __init__(self, secret_id: str, secret_key: str) -> None:
        super().__init__()
        self.secret_id, self.secret_key = secret_id, secret_key

    def error(self, code: str, message: str):  # noqa: ANN201
        return self.json(200, {"Response": {"Error": {"Code": code, "Message": message},
                                            "RequestId": secrets.token_hex(16)}})

    def handle(self, method, path, query, headers, body):  # noqa: ANN001
        self.requests.append({"headers": headers, "body": body})
        auth = headers.get("authorization", "")
        if method != "POST" or not auth.startswith("TC3-HMAC-SHA256 "):
            return self.error("AuthFailure.InvalidAuthorization", "bad authorization")
        fields = dict(part.strip().split("=", 1) for part in auth[len("TC3-HMAC-SHA256 "):]
                      .split(","))
        key_id, date, service, term = fields["Credential"].split("/")
        if key_id != self.secret_id:
            return self.error("AuthFailure.SecretIdNotFound", "secret id not found")
        ts = int(headers["x-tc-timestamp"])
        if datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d") != date \
                or service != "sms" or term != "tc3_request":
            return self.error("AuthFailure.InvalidAuthorization", "bad credential scope")
        signed = fields["SignedHeaders"].split(";")
        if not {"content-type", "host"} <= set(signed):
            return self.error("AuthFailure.InvalidAuthorization", "unsigned headers")
        canonical = ("POST\n/\n\n" + "".join(f"{h}:{headers[h].strip().lower()}\n"
                                              for h in signed)
                     + "\n" + ";".join(signed) + "\n" + _sha256_hex(body))
        to_sign = (f"TC3-HMAC-SHA256\n{ts}\n{date}/sms/tc3_request\n"
                   + _sha256_hex(canonical.encode()))

        def mac(key: bytes, msg: str) -> bytes:
            return hmac.new(key, msg.encode(), hashlib.sha256).digest()

        k = mac(mac(mac(("TC3" + self.secret_key).encode(), date), "sms"), "tc3_request")
        if hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest() != fields["Signature"]:
            return self.error("AuthFailure.SignatureFailure",
                              "The provided credentials could not be validated.")
        if (headers.get("x-tc-action"), headers.get("x-tc-version")) != ("SendSms",
                                                                         "2021-01-11"):
            return self.error("InvalidAction", "bad action or version")
        req = json.loads(body)
        for k_ in ("PhoneNumberSet", "SmsSdkAppId", "TemplateId"):
            if k_ not in req:
                return self.error("MissingParameter", f"missing {k_}")
        statuses = []
        for number in req["PhoneNumberSet"]:
            failed = self.take_failure()
            statuses.append({"SerialNo": secrets.token_hex(10), "PhoneNumber": number,
                             "Fee": 0 if failed else 1, "SessionContext": "",
                             "Code": "LimitExceeded.PhoneNumberOneHourLimit" if failed else "Ok",
                             "Message": "the number of SMS messages sent from a single mobile "
                                        "number within 1 hour exceeds the upper limit"
                             if failed else "send success", "IsoCode": "CN"})
        return self.json(200, {"Response": {"SendStatusSet": statuses,
                                            "RequestId": secrets.token_hex(16)}})


class FakeWechat(FakeServer):
    """公众号网页授权: /connect/oauth2/authorize answers as WeChat does once the person agreed
    (302 to redirect_uri?code=CODE&state=STATE); /sns/oauth2/access_token exchanges a code once
    for {access_token, expires_in, refresh_token, openid, scope}; /sns/userinfo answers the
    profile for an snsapi_userinfo token. Errors are {"errcode", "errmsg"}."""

    def __init__(self, app_id: str, secret: str) -> None:
        super().__init__()
        self.app_id, self.secret = app_id, secret
        self.openid_for_next_visit = "oPerson-" + secrets.token_hex(6)
        self.codes: dict[str, tuple[str, str]] = {}  # code → (openid, scope)
        self.tokens: dict[str, tuple[str, str]] = {}  # access_token → (openid, scope)

    def handle(self, method, path, query, headers, body):  # noqa: ANN001
        self.requests.append({"path": path, "query": query})
        if path == "/connect/oauth2/authorize":
            if query.get("appid") != self.app_id or query.get("response_type") != "code" \
                    or query.get("scope") not in ("snsapi_base", "snsapi_userinfo") \
                    or not query.get("redirect_uri"):
                return 200, {"Content-Type": "text/html"}, "参数错误".encode()
            code = secrets.token_hex(16)
            self.codes[code] = (self.openid_for_next_visit, query["scope"])
            sep = "&" if "?" in query["redirect_uri"] else "?"
            target = query["redirect_uri"] + sep + urlencode(
                {"code": code, "state": query.get("state", "")})
            return 302, {"Location": target}, b""
        if path == "/sns/oauth2/access_token":
            if query.get("appid") != self.app_id or query.get("secret") != self.secret:
                return self.json(200, {"errcode": 40125, "errmsg": "invalid appsecret"})
            if query.get("grant_type") != "authorization_code":
                return self.json(200, {"errcode": 40002, "errmsg": "invalid grant_type"})
            found = self.codes.pop(query.get("code", ""), None)  # a code works once
            if found is None:
                return self.json(200, {"errcode": 40029, "errmsg": "invalid code"})
            token = secrets.token_hex(20)
            self.tokens[token] = found
            return self.json(200, {"access_token": token, "expires_in": 7200,
                                   "refresh_token": secrets.token_hex(20), "openid": found[0],
                                   "scope": found[1], "is_snapshotuser": 0})
        if path == "/sns/userinfo":
            found = self.tokens.get(query.get("access_token", ""))
            if found is None or found[0] != query.get("openid"):
                return self.json(200, {"errcode": 40003, "errmsg": "invalid openid"})
            if found[1] != "snsapi_userinfo":
                return self.json(200, {"errcode": 48001, "errmsg": "api unauthorized"})
            return self.json(200, {"openid": found[0], "nickname": "老张", "sex": 0,
                                   "province": "", "city": "", "country": "",
                                   "headimgurl": "", "privilege": []})
        return 404, {}, b""
