#!/usr/bin/env python3
"""Regenerates Tests/LitestreamTests/GCS/Fixtures/jwt-goldens.json with Google's own Python library (google-auth).

    .venv/bin/python scripts/gcs-goldens.py

For the committed test key (Fixtures/service-account.json, a throwaway key made once for these tests; it belongs to
no Google account) and a fixed time, it records what google.oauth2.service_account.Credentials sends when it
refreshes its token: the JWT assertion (header, claims, RS256 signature) and the token request's body, and one
google.auth.crypt.RSASigner signature of a fixed message. GCSGoldenTests checks that our client makes the same bytes.
"""
import base64
import datetime
import json
import os

from google.auth import _helpers, crypt
from google.oauth2 import _client, service_account

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "LitestreamTests", "GCS", "Fixtures")
SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
ISSUED_AT = 1795752773  # 2026-11-27T04:12:53Z
MESSAGE = b"litestream-swift gs golden"


def b64decode(segment):
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def main():
    with open(os.path.join(HERE, "service-account.json")) as f:
        info = json.load(f)

    # The credentials read the clock once per assertion: pin it.
    fixed = datetime.datetime.fromtimestamp(ISSUED_AT, tz=datetime.timezone.utc).replace(tzinfo=None)
    _helpers.utcnow = lambda: fixed
    credentials = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
    assertion = credentials._make_authorization_grant_assertion()
    if isinstance(assertion, bytes):
        assertion = assertion.decode()
    header, claims, signature = assertion.split(".")

    # The token request exactly as jwt_grant sends it, captured by a stand-in transport.
    sent = {}

    class Response:
        status = 200
        headers = {"content-type": "application/json"}
        data = json.dumps({"access_token": "ya29.test", "expires_in": 3599, "token_type": "Bearer"}).encode()

    def request(url, method="GET", body=None, headers=None, **kwargs):
        sent.update(url=url, method=method, body=body.decode() if isinstance(body, bytes) else body,
                    content_type=(headers or {}).get("Content-Type") or (headers or {}).get("content-type"))
        return Response()

    _client.jwt_grant(request, info["token_uri"], assertion)

    signer = crypt.RSASigner.from_service_account_info(info)
    goldens = {
        "generator": "scripts/gcs-goldens.py with google-auth",
        "issued_at": ISSUED_AT,
        "scope": SCOPE,
        "header_json": b64decode(header).decode(),
        "claims_json": b64decode(claims).decode(),
        "assertion": assertion,
        "signature_base64url": signature,
        "token_request": sent,
        "signer_message": MESSAGE.decode(),
        "signer_signature_hex": signer.sign(MESSAGE).hex(),
    }
    with open(os.path.join(HERE, "jwt-goldens.json"), "w") as f:
        json.dump(goldens, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
