#!/usr/bin/env python3
"""Generates sigv4-goldens.json: SigV4 signatures computed OFFLINE by botocore's S3SigV4Auth.

Run from this directory: python3 make-sigv4-goldens.py > sigv4-goldens.json
The Swift tests (S3SignerTests) rebuild each request from its raw parts (bucket, key, query parameters,
headers, body) with our own encoding, sign it with the same fixed time, and compare every string.
Keys are percent-encoded here with botocore's own serializer rule (percent_encode, safe '/~'), so the test
checks our path encoding too, not only the signing.
"""
import base64
import hashlib
import json
import sys

import botocore
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode

TIMESTAMP = "20260115T093000Z"

CASES = [
    dict(name="put-path-style-odd-key", method="PUT", endpoint="http://127.0.0.1:9000", path_style=True,
         bucket="my-bucket", key="db/a b+c~é(1)*!'.txt", region="us-east-1", params={},
         headers={"content-type": "application/octet-stream", "x-amz-meta-litestream-timestamp": "2026-01-15T09:30:00.123Z"},
         body="hello, world"),
    dict(name="put-ltx-key", method="PUT", endpoint="http://localhost:5000", path_style=True,
         bucket="bkt", key="backups/db/0000/0000000000000001-0000000000000001.ltx", region="us-east-1", params={},
         headers={"content-type": "application/octet-stream"}, body="LTX\x01"),
    dict(name="get-non-ascii-key", method="GET", endpoint="https://s3.eu-central-1.amazonaws.com", path_style=False,
         bucket="examplebucket", key="dbs/Ünïcødé 名前/файл.ltx", region="eu-central-1", params={},
         headers={"range": "bytes=100-"}, body=""),
    dict(name="list-objects-v2", method="GET", endpoint="http://127.0.0.1:9000", path_style=True,
         bucket="bkt", key=None, region="eu-west-1",
         params={"list-type": "2", "prefix": "db/gen 1/", "continuation-token": "1ab+c/d=e==",
                 "encoding-type": "url", "max-keys": "1000"},
         headers={}, body=""),
    dict(name="post-uploads-virtual-host", method="POST", endpoint="https://s3.us-west-2.amazonaws.com",
         path_style=False, bucket="examplebucket", key="db/x.ltx", region="us-west-2", params={"uploads": ""},
         headers={"content-type": "application/octet-stream", "x-amz-storage-class": "STANDARD_IA"}, body=""),
    dict(name="upload-part", method="PUT", endpoint="http://127.0.0.1:9000", path_style=True,
         bucket="bkt", key="db/0009/0000000000000001-0000000000000064.ltx", region="us-east-1",
         params={"partNumber": "2", "uploadId": "VXBsb2FkIElE+/=="}, headers={}, body="x" * 1000),
    dict(name="delete-objects", method="POST", endpoint="http://127.0.0.1:9000", path_style=True,
         bucket="bkt", key=None, region="us-east-1", params={"delete": ""},
         headers={"content-type": "application/xml"},
         body='<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>'
              '<Object><Key>db/0000/0000000000000001-0000000000000001.ltx</Key></Object></Delete>'),
    dict(name="head-with-session-token", method="HEAD", endpoint="https://s3.amazonaws.com", path_style=False,
         bucket="bucket", key="a/b~c.ltx", region="us-east-1", params={}, headers={}, body="",
         token="FwoGZXIvYXdzEBYaDH+/token=="),
    # SSE-C: the three customer-key headers are signed like any x-amz-* header (key: 32 bytes 0x00..0x1f).
    dict(name="put-sse-c", method="PUT", endpoint="http://127.0.0.1:9000", path_style=True,
         bucket="bkt", key="db/0000/0000000000000001-0000000000000001.ltx", region="us-east-1", params={},
         headers={"content-type": "application/octet-stream",
                  "x-amz-meta-litestream-timestamp": "2026-01-15T09:30:00.123Z"},
         body="LTX\x01", sse_c=True),
    dict(name="get-sse-c-range", method="GET", endpoint="https://s3.eu-west-1.amazonaws.com", path_style=False,
         bucket="examplebucket", key="db/0009/0000000000000001-0000000000000064.ltx", region="eu-west-1", params={},
         headers={"range": "bytes=1048576-", "if-match": '"9b2cf535f27731c974343645a3985328"'}, body="", sse_c=True),
    dict(name="upload-part-sse-c", method="PUT", endpoint="http://127.0.0.1:9000", path_style=True,
         bucket="bkt", key="db/0009/0000000000000001-0000000000000064.ltx", region="us-east-1",
         params={"partNumber": "3", "uploadId": "VXBsb2FkIElE+/=="}, headers={}, body="y" * 100, sse_c=True),
    dict(name="put-sse-kms", method="PUT", endpoint="https://s3.us-east-1.amazonaws.com", path_style=False,
         bucket="examplebucket", key="db/0000/0000000000000002-0000000000000002.ltx", region="us-east-1", params={},
         headers={"content-type": "application/octet-stream", "x-amz-server-side-encryption": "aws:kms",
                  "x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:us-east-1:111122223333:key/abcd"},
         body="LTX\x02"),
]

SSE_C_KEY = bytes(range(32))


def main():
    out = {"generator": "botocore " + botocore.__version__, "timestamp": TIMESTAMP,
           "access_key": "AKIDEXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "cases": []}
    for c in CASES:
        scheme, host = c["endpoint"].split("://")
        if not c["path_style"]:
            host = c["bucket"] + "." + host
        path = "/" + c["bucket"] if c["path_style"] else ""
        if c["key"] is not None:
            path += "/" + percent_encode(c["key"], safe="/~")
        if path == "":
            path = "/"
        body = c["body"].encode()
        headers = dict(c["headers"])
        if c.get("sse_c"):
            headers["x-amz-server-side-encryption-customer-algorithm"] = "AES256"
            headers["x-amz-server-side-encryption-customer-key"] = base64.b64encode(SSE_C_KEY).decode()
            headers["x-amz-server-side-encryption-customer-key-md5"] = base64.b64encode(
                hashlib.md5(SSE_C_KEY).digest()).decode()
        if c["name"] == "delete-objects":
            headers["content-md5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
        req = AWSRequest(method=c["method"], url=f"{scheme}://{host}{path}", params=c["params"], headers=headers,
                         data=body)
        creds = Credentials(out["access_key"], out["secret_key"], c.get("token"))
        auth = S3SigV4Auth(creds, "s3", c["region"])
        req.context["timestamp"] = TIMESTAMP
        auth._modify_request_before_signing(req)
        canonical = auth.canonical_request(req)
        sts = auth.string_to_sign(req, canonical)
        sig = auth.signature(sts, req)
        out["cases"].append(dict(
            name=c["name"], method=c["method"], scheme=scheme, host=host, path_style=c["path_style"],
            bucket=c["bucket"], key=c["key"], region=c["region"],
            query=[[k, v] for k, v in c["params"].items()], headers=[[k, v] for k, v in headers.items()],
            body=c["body"], session_token=c.get("token"), encoded_path=path,
            payload_hash=req.headers["X-Amz-Content-SHA256"],
            canonical_request=canonical, string_to_sign=sts, signature=sig))
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
