#!/usr/bin/env python3
"""Sets up the webhook benchmark on a running server and writes signed deliveries for wrk.

Signs in as the bench admin, creates a one-step workflow with a webhook trigger, and writes COUNT
distinct deliveries (each a body `{"n": i}` with its `X-Auterity-Signature`, timestamped now, so
none is a replay of another) to OUT, one `signature<TAB>body` per line. Prints the hook's path.

    deliveries.py BASE_URL EMAIL PASSWORD COUNT OUT
"""
import hashlib
import hmac
import json
import sys
import time
import urllib.request


def call(base, method, path, body=None, token=None):
    request = urllib.request.Request(base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def main():
    base, email, password, count, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    token = call(base, "POST", "/api/auth/login", {"email": email, "password": password})["access_token"]
    created = call(base, "POST", "/api/workflows", {
        "name": "bench-hook", "inputs": {"n": {"type": "integer"}},
        "steps": [{"id": "a", "kind": "transform", "output": "${inputs.n}"}],
        "triggers": [{"id": "inbound", "kind": "webhook"}]}, token)
    secret = created["webhook_secrets"][0]["secret"].encode()
    triggers = call(base, "GET", "/api/workflows/%s/triggers" % created["id"], token=token)["items"]
    now = int(time.time())
    with open(out, "w") as f:
        for i in range(count):
            body = '{"n": %d}' % i
            tag = hmac.new(secret, b"%d.%s" % (now, body.encode()), hashlib.sha256).hexdigest()
            f.write("t=%d,v1=%s\t%s\n" % (now, tag, body))
    print(triggers[0]["webhook_path"])


if __name__ == "__main__":
    main()
