"""Schemathesis hooks for the contract run (tests/api/schemathesis.rs starts the bridge and
schemathesis, and passes the settings below in the environment).

Each route's callers sign their requests, so without these hooks every generated request would
stop at authentication. Here each request is signed as its real caller signs it:

- /createticket: a UserSig for the body's `userId`, made with Tencent's official library;
- /webhooks/zendesk: Zendesk's signature of the timestamp and the raw body as sent;
- /callbacks/im: IM's `Sign` for the current `RequestTime`, for the bridge's SdkAppid;
- /agent/session: the JWT Zendesk's proxy signs; other /agent routes: a session token.

Credentials go in through schemathesis's auth provider, so its `ignored_auth` check still sends
each route without them and with made-up ones, and expects a refusal. Signatures over the raw
body are made when the request is sent: the provider puts a placeholder where the signature
goes, and the sending step replaces only that placeholder.

One more check, `idempotency_holds`, follows /createticket across the run (the stateful phase
retries with the same key, see the links in openapi.yaml): every answer with a ticket to one
user's key names the same ticket (the same request again gets it back, another one a 409).
"""
import base64
import hashlib
import hmac
import os
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import schemathesis
import TLSSigAPIv2
from requests.auth import AuthBase

SDKAPPID = os.environ["TB_SDKAPPID"]
SIGNER = TLSSigAPIv2.TLSSigAPIv2(int(SDKAPPID), os.environ["TB_IM_KEY"])
WEBHOOK_SECRET = os.environ["TB_WEBHOOK_SECRET"].encode()
CALLBACK_TOKEN = os.environ["TB_CALLBACK_TOKEN"]
ZAF_JWT = os.environ["TB_ZAF_JWT"]
AGENT_TOKEN = os.environ["TB_AGENT_TOKEN"]

PLACEHOLDER = "signed-when-sent"


class SignWhenSent(AuthBase):
    """Replaces the placeholder with the signature of what is actually sent."""

    def __call__(self, r):
        # The time is the caller's to give: a request generated without it stays without.
        stamp_header = "x-zendesk-webhook-signature-timestamp"
        if r.headers.get("x-zendesk-webhook-signature") == PLACEHOLDER and stamp_header in r.headers:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            body = r.body or b""
            if isinstance(body, str):
                body = body.encode()
            mac = hmac.new(WEBHOOK_SECRET, stamp.encode() + body, hashlib.sha256).digest()
            r.headers["x-zendesk-webhook-signature"] = base64.b64encode(mac).decode()
            r.headers[stamp_header] = stamp
        url = urlsplit(r.url)
        query = parse_qsl(url.query, keep_blank_values=True)
        if ("Sign", PLACEHOLDER) in query and any(k == "RequestTime" for k, _ in query):
            now = str(int(time.time()))
            sign = hashlib.sha256((CALLBACK_TOKEN + now).encode()).hexdigest()
            fixed = {"Sign": sign, "RequestTime": now, "SdkAppid": SDKAPPID}
            query = [(k, fixed.get(k, v)) for k, v in query]
            r.url = urlunsplit(url._replace(query=urlencode(query)))
        return r


@schemathesis.hook
def before_call(ctx, case, kwargs):
    kwargs["auth"] = SignWhenSent()


@schemathesis.auth(refresh_interval=None)
class Callers:
    def get(self, case, ctx):
        return True

    def set(self, case, data, ctx):
        path = case.operation.path
        case.headers = case.headers or {}
        if path == "/createticket":
            body = case.body if isinstance(case.body, dict) else {}
            user = body.get("userId")
            if isinstance(user, str):
                case.headers["Authorization"] = "UserSig " + SIGNER.gen_sig(user, 3600)
        elif path == "/webhooks/zendesk":
            case.headers["x-zendesk-webhook-signature"] = PLACEHOLDER
        elif path == "/callbacks/im":
            case.query = case.query or {}
            case.query["Sign"] = PLACEHOLDER
        elif path == "/agent/session":
            case.headers["Authorization"] = "Bearer " + ZAF_JWT
        elif path.startswith("/agent/"):
            case.headers["Authorization"] = "Bearer " + AGENT_TOKEN


# (userId, Idempotency-Key) -> the TicketId its first answer gave.
TICKETS = {}


@schemathesis.check
def idempotency_holds(ctx, response, case):
    if case.operation.path != "/createticket" or response.status_code not in (200, 202):
        return None
    headers = {k.lower(): v for k, v in (case.headers or {}).items()}
    key = headers.get("idempotency-key")
    if key is None or not isinstance(case.body, dict):
        return None
    ticket = response.json()["TicketId"]
    first = TICKETS.setdefault((case.body.get("userId"), key.strip()), ticket)
    if first != ticket:
        raise AssertionError(f"one Idempotency-Key got two tickets: {first} and {ticket}")
    return None
