"""A liuma backend signing native API calls with botocore's SigV4Auth.

Usage: sigv4_backend.py NATIVE_ADDR CREDENTIAL_ID SECRET REGION
Uploads a small file (token minted with a signed request), reads its info
and deletes it, all signed; prints one JSON object with what it saw.
"""

import hashlib
import json
import sys
import urllib.error
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def signed(addr, creds, region, method, path, body=b""):
    """Send one SigV4-signed request; return (status, JSON body)."""
    req = AWSRequest(method=method, url=f"http://{addr}{path}", data=body)
    SigV4Auth(creds, "liuma", region).add_auth(req)
    return send(req.method, req.url, dict(req.headers.items()), body)


def send(method, url, headers, body=b""):
    r = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(r) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def main():
    addr, key_id, secret, region = sys.argv[1:5]
    creds = Credentials(key_id, secret)
    data = b"signed by botocore " * 100
    h = hashlib.sha256(data).hexdigest()
    out = {}
    out["token"] = signed(addr, creds, region, "GET", f"/upload/token?hash={h}&size={len(data)}")
    token = out["token"][1].get("token", "")
    out["upload"] = send(
        "POST",
        f"http://{addr}/upload/single?file_name=boto.bin",
        {"token": token, "Content-Type": "application/octet-stream"},
        data,
    )
    out["info"] = signed(addr, creds, region, "GET", f"/file?hash={h}")
    out["delete"] = signed(addr, creds, region, "DELETE", f"/file?hash={h}")
    wrong = Credentials(key_id, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    out["wrong_secret"] = signed(addr, wrong, region, "GET", "/server/active")
    out["wrong_region"] = signed(addr, creds, "xx-nowhere-1", "GET", "/server/active")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
