#!/usr/bin/env python3
"""Prints the signing goldens of the Azure Blob (abs) and Alibaba OSS (oss) replicas, computed OFFLINE by the
vendors' official Python SDKs, as JSON. The Swift tests (ABSSignerTests, OSSSignerTests) rebuild each request
from the same parts, sign it at the same time with the same key, and compare every string.

The SDKs are needed only to regenerate the fixtures, never by the tests. Install the pinned versions into a
throwaway virtual environment, not the project's:

    python3 -m venv /tmp/goldens-venv
    /tmp/goldens-venv/bin/pip install azure-storage-blob==12.31.1 oss2==2.19.1 alibabacloud-oss-v2==1.4.1
    /tmp/goldens-venv/bin/python scripts/make-abs-oss-goldens.py abs > Tests/LitestreamTests/ABS/Fixtures/abs-goldens.json
    /tmp/goldens-venv/bin/python scripts/make-abs-oss-goldens.py oss > Tests/LitestreamTests/OSS/Fixtures/oss-goldens.json

Azure: azure-storage-blob's SharedKeyCredentialPolicy signs each request (its string-to-sign is captured), and
generate_blob_sas makes the SAS token the SAS case appends. OSS: Litestream 0.5.17 uses
alibabacloud-oss-go-sdk-v2, whose default is signature V4 (OSS4-HMAC-SHA256); its Python sibling
alibabacloud-oss-v2 (SignerV4) gives the Authorization header in the Go SDK's form, and oss2's ProviderAuthV4
must agree on the signature (the script stops if they differ).
"""
import datetime
import json
import sys
from urllib.parse import quote

PINNED = {"azure-storage-blob": "12.31.1", "oss2": "2.19.1", "alibabacloud-oss-v2": "1.4.1"}

# Azure: the documented development-storage key (Azurite's), not a secret.
AZ_ACCOUNT = "litestreamtest"
AZ_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZ_DATE = "Thu, 15 Jan 2026 09:30:00 GMT"
AZ_VERSION = "2023-11-03"

# OSS: made-up credentials.
OSS_AK = "LTAI5tEXAMPLEaccessKey"
OSS_SK = "EXAMPLEsecretKeyEXAMPLEsecretKey"
OSS_TIME = datetime.datetime(2026, 1, 15, 9, 30, 0, tzinfo=datetime.timezone.utc)


def az_blob_path(container, blob):
    # azure-storage-blob's own rule for a blob name in the URL: quote(name, safe='~/').
    return "/" + container + ("/" + quote(blob, safe="~/") if blob is not None else "")


def az_query(pairs):
    # Values as our client sends them: every byte but the unreserved ones percent-encoded.
    return "&".join(k + "=" + quote(v, safe="~") for k, v in pairs)


AZ_CASES = [
    dict(name="put-blob-metadata", method="PUT", base="https://litestreamtest.blob.core.windows.net",
         container="replicas", blob="db/ltx/0/0000000000000001-0000000000000001.ltx", query=[],
         headers=[["content-length", "4096"], ["content-type", "application/octet-stream"],
                  ["x-ms-access-tier", "Hot"], ["x-ms-blob-type", "BlockBlob"],
                  ["x-ms-meta-litestreamtimestamp", "2026-01-15T09:30:00.123Z"]]),
    # Level 0: only if no blob has the name (If-None-Match is one of the standard lines of the string-to-sign).
    dict(name="put-blob-exclusive", method="PUT", base="https://litestreamtest.blob.core.windows.net",
         container="replicas", blob="db/ltx/0/0000000000000002-0000000000000002.ltx", query=[],
         headers=[["content-length", "198"], ["content-type", "application/octet-stream"], ["if-none-match", "*"],
                  ["x-ms-access-tier", "Hot"], ["x-ms-blob-type", "BlockBlob"],
                  ["x-ms-meta-litestreamtimestamp", "2026-01-15T09:30:00.5Z"]]),
    dict(name="get-blob-range", method="GET", base="https://litestreamtest.blob.core.windows.net",
         container="replicas", blob="db/ltx/9/0000000000000001-0000000000000064.ltx", query=[],
         headers=[["x-ms-range", "bytes=1048576-"]]),
    dict(name="list-blobs-marker", method="GET", base="https://litestreamtest.blob.core.windows.net",
         container="replicas", blob=None,
         query=[["restype", "container"], ["comp", "list"], ["prefix", "db/ltx/1/"], ["include", "metadata"],
                ["marker", "2!96!MDAwMDI4IWRiL2x0eC8xLzAwMDAwMDAwMDAwMDAwMTAtMDAwMDAwMDAwMDAwMDAyMC5sdHghMDAwMDI4ITk5OTktMTItMzFUMjM6NTk6NTkuOTk5OTk5OVoh"],
                ["maxresults", "5000"]],
         headers=[]),
    dict(name="delete-blob", method="DELETE", base="https://litestreamtest.blob.core.windows.net",
         container="replicas", blob="db/ltx/0/0000000000000002-0000000000000002.ltx", query=[], headers=[]),
    dict(name="put-block", method="PUT", base="https://litestreamtest.blob.core.windows.net",
         container="replicas", blob="db/ltx/9/0000000000000001-0000000000000064.ltx",
         query=[["comp", "block"], ["blockid", "bGl0ZXN0cmVhbS0wMDAwMDA="]],
         headers=[["content-length", "4194304"]]),
    dict(name="put-block-list", method="PUT", base="https://litestreamtest.blob.core.windows.net",
         container="replicas", blob="db/ltx/9/0000000000000001-0000000000000064.ltx", query=[["comp", "blocklist"]],
         headers=[["content-length", "180"], ["content-type", "application/xml"], ["x-ms-access-tier", "Hot"],
                  ["x-ms-blob-content-type", "application/octet-stream"],
                  ["x-ms-meta-litestreamtimestamp", "2026-01-15T09:30:00Z"]]),
    dict(name="put-unicode-space-plus-key", method="PUT", base="https://litestreamtest.blob.core.windows.net",
         container="replicas", blob="dbs/a b+c~é(1)/名前/ltx/0/0000000000000001-0000000000000001.ltx", query=[],
         headers=[["content-length", "12"], ["content-type", "application/octet-stream"],
                  ["x-ms-access-tier", "Hot"], ["x-ms-blob-type", "BlockBlob"],
                  ["x-ms-meta-litestreamtimestamp", "2026-01-15T09:30:00.1Z"]]),
    dict(name="emulator-path-style-list", method="GET", base="http://127.0.0.1:10000/litestreamtest",
         container="replicas", blob=None,
         query=[["restype", "container"], ["comp", "list"], ["prefix", "db/"], ["maxresults", "1"]], headers=[]),
]


def abs_goldens():
    import azure.storage.blob as azblob
    from azure.core.pipeline import PipelineRequest, PipelineContext
    from azure.core.pipeline.transport import HttpRequest
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas
    from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy

    captured = {}

    class Capturing(SharedKeyCredentialPolicy):
        def _add_authorization_header(self, request, string_to_sign):
            captured["string_to_sign"] = string_to_sign
            super()._add_authorization_header(request, string_to_sign)

    policy = Capturing(AZ_ACCOUNT, AZ_KEY)
    out = {"generator": "azure-storage-blob " + azblob.__version__, "account": AZ_ACCOUNT, "key": AZ_KEY,
           "date": AZ_DATE, "version": AZ_VERSION, "cases": []}
    for c in AZ_CASES:
        path = az_blob_path(c["container"], c["blob"])
        q = az_query(c["query"])
        url = c["base"] + path + ("?" + q if q else "")
        headers = [["x-ms-date", AZ_DATE], ["x-ms-version", AZ_VERSION]] + c["headers"]
        request = HttpRequest(c["method"], url, headers={k: v for k, v in headers})
        policy.on_request(PipelineRequest(request, PipelineContext(None)))
        out["cases"].append(dict(
            name=c["name"], method=c["method"], base=c["base"], container=c["container"], blob=c["blob"],
            query=c["query"], headers=headers, url=url,
            string_to_sign=captured["string_to_sign"], authorization=request.headers["Authorization"]))

    # A SAS token (what a user pastes into sas-token), and the URL it makes for a GET of a blob: ours appends the
    # token to the request's own query as given, as the SDK does for a credential in the URL.
    sas = generate_blob_sas(
        AZ_ACCOUNT, "replicas", "db/ltx/0/0000000000000001-0000000000000001.ltx", account_key=AZ_KEY,
        permission=BlobSasPermissions(read=True, write=True, delete=True, list=True),
        start=datetime.datetime(2026, 1, 15, 9, 0, tzinfo=datetime.timezone.utc),
        expiry=datetime.datetime(2026, 1, 16, 9, 0, tzinfo=datetime.timezone.utc), protocol="https")
    out["sas"] = dict(token=sas, base="https://litestreamtest.blob.core.windows.net", container="replicas",
                      blob="db/ltx/0/0000000000000001-0000000000000001.ltx",
                      url="https://litestreamtest.blob.core.windows.net/replicas/"
                          "db/ltx/0/0000000000000001-0000000000000001.ltx?" + sas,
                      list_url="https://litestreamtest.blob.core.windows.net/replicas?"
                               + az_query([["restype", "container"], ["comp", "list"], ["prefix", "db/ltx/0/"],
                                           ["include", "metadata"]]) + "&" + sas)
    return out


OSS_CASES = [
    dict(name="put-object-metadata", method="PUT", bucket="examplebucket",
         key="db/0000/0000000000000001-0000000000000001.ltx", query=[],
         headers=[["content-length", "4096"], ["content-type", "application/octet-stream"],
                  ["x-oss-meta-litestream-timestamp", "2026-01-15T09:30:00.123Z"]]),
    dict(name="put-object-forbid-overwrite", method="PUT", bucket="examplebucket",
         key="db/0000/0000000000000002-0000000000000002.ltx", query=[],
         headers=[["content-length", "198"], ["content-type", "application/octet-stream"],
                  ["x-oss-forbid-overwrite", "true"], ["x-oss-meta-litestream-timestamp", "2026-01-15T09:30:00.5Z"]]),
    dict(name="get-object-range", method="GET", bucket="examplebucket",
         key="db/0009/0000000000000001-0000000000000064.ltx", query=[],
         headers=[["range", "bytes=1048576-"], ["x-oss-range-behavior", "standard"]]),
    dict(name="list-objects-v2-token", method="GET", bucket="examplebucket", key=None,
         query=[["list-type", "2"], ["prefix", "db/0001/"], ["encoding-type", "url"], ["max-keys", "1000"],
                ["continuation-token", "ChJkYi8wMDAxL2EgYitjLmx0eBAA"]],
         headers=[]),
    dict(name="delete-multiple-objects", method="POST", bucket="examplebucket", key=None, query=[["delete", ""]],
         headers=[["content-length", "120"], ["content-md5", "1B2M2Y8AsgTpgAmY7PhCfg=="],
                  ["content-type", "application/xml"]]),
    dict(name="initiate-multipart", method="POST", bucket="examplebucket",
         key="db/0009/0000000000000001-0000000000000064.ltx", query=[["uploads", ""]],
         headers=[["content-type", "application/octet-stream"],
                  ["x-oss-meta-litestream-timestamp", "2026-01-15T09:30:00Z"]]),
    dict(name="upload-part", method="PUT", bucket="examplebucket",
         key="db/0009/0000000000000001-0000000000000064.ltx",
         query=[["partNumber", "2"], ["uploadId", "0004B9895DBBB6EC98E36+/="]],
         headers=[["content-length", "5242880"]]),
    dict(name="complete-multipart", method="POST", bucket="examplebucket",
         key="db/0009/0000000000000001-0000000000000064.ltx", query=[["uploadId", "0004B9895DBBB6EC98E36+/="]],
         headers=[["content-length", "200"], ["content-type", "application/xml"]]),
    dict(name="put-unicode-space-plus-key", method="PUT", bucket="examplebucket",
         key="dbs/a b+c~é(1)/名前/0000/0000000000000001-0000000000000001.ltx", query=[],
         headers=[["content-length", "12"], ["content-type", "application/octet-stream"],
                  ["x-oss-meta-litestream-timestamp", "2026-01-15T09:30:00.1Z"]]),
    dict(name="delete-object-sts-token", method="DELETE", bucket="examplebucket",
         key="db/0000/0000000000000002-0000000000000002.ltx", query=[], headers=[],
         token="CAIS+example/session==token"),
]


def oss_goldens():
    import alibabacloud_oss_v2 as ossv2
    from alibabacloud_oss_v2.credentials import Credentials
    from alibabacloud_oss_v2.signer.v4 import SignerV4
    from alibabacloud_oss_v2.types import HttpRequest, SigningContext
    import oss2
    import oss2.auth
    from oss2.credentials import StaticCredentialsProvider

    class FixedDatetime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return OSS_TIME.replace(tzinfo=None)

    oss2.auth.datetime = FixedDatetime  # ProviderAuthV4 reads the clock through this name

    region, host = "cn-hangzhou", "oss-cn-hangzhou.aliyuncs.com"
    out = {"generator": "alibabacloud-oss-v2 " + ossv2.__version__ + ", oss2 " + oss2.__version__,
           "access_key_id": OSS_AK, "access_key_secret": OSS_SK, "region": region, "product": "oss",
           "time": OSS_TIME.strftime("%Y%m%dT%H%M%SZ"), "cases": []}
    for c in OSS_CASES:
        url = "https://" + c["bucket"] + "." + host + "/" + (quote(c["key"]) if c["key"] is not None else "")
        q = "&".join(k + "=" + quote(v, safe="") if v else k for k, v in c["query"])
        full = url + ("?" + q if q else "")
        headers = c["headers"] + [["x-oss-date", OSS_TIME.strftime("%Y%m%dT%H%M%SZ")],
                                  ["x-oss-content-sha256", "UNSIGNED-PAYLOAD"]]
        if c.get("token"):
            headers.append(["x-oss-security-token", c["token"]])

        # alibabacloud-oss-v2 (the Go SDK's sibling): the Authorization header as Litestream sends it.
        request = HttpRequest(c["method"], full, headers={k: v for k, v in c["headers"]})
        ctx = SigningContext(product="oss", region=region, bucket=c["bucket"], key=c["key"], request=request,
                             credentials=Credentials(OSS_AK, OSS_SK, c.get("token")), signing_time=OSS_TIME)
        SignerV4().sign(ctx)
        authorization = request.headers["Authorization"]
        canonical = SignerV4()._calc_canonical_request(signing_ctx=ctx, additional_headers=[])
        signature = authorization.rsplit("Signature=", 1)[1]

        # oss2's ProviderAuthV4 must compute the same signature for the same request.
        r2 = oss2.http.Request(c["method"], url, params={k: v for k, v in c["query"]},
                               headers={k: v for k, v in c["headers"]}, region=region, product="oss")
        creds = (oss2.credentials.Credentials(OSS_AK, OSS_SK, c["token"]) if c.get("token")
                 else oss2.credentials.Credentials(OSS_AK, OSS_SK))

        class Provider(StaticCredentialsProvider):
            def get_credentials(self):
                return creds

        oss2.auth.ProviderAuthV4(Provider(OSS_AK, OSS_SK))._sign_request(r2, c["bucket"], c["key"] or "")
        sig2 = r2.headers["authorization"].split("Signature=", 1)[1].split(",")[0]
        if sig2 != signature:
            sys.exit(f"{c['name']}: oss2 signs {sig2}, alibabacloud-oss-v2 signs {signature}")

        out["cases"].append(dict(
            name=c["name"], method=c["method"], bucket=c["bucket"], key=c["key"], query=c["query"],
            headers=headers, url=full, canonical_request=canonical, string_to_sign=ctx.string_to_sign, authorization=authorization,
            oss2_authorization=r2.headers["authorization"]))
    return out


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    if which == "abs":
        out = abs_goldens()
    elif which == "oss":
        out = oss_goldens()
    else:
        sys.exit("usage: make-abs-oss-goldens.py abs|oss")
    out["pinned"] = PINNED
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
