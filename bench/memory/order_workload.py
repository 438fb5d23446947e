#!/usr/bin/env python3
"""The requests bench/memory/orderfile.sh sends to the server it profiles: the common paths of
auth, the API, the workflow engine and triggers, a few times each.

    order_workload.py BASE_URL EMAIL PASSWORD
"""
import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.request


def call(base, method, path, body=None, token=None, headers=None, raw=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(base + path, method=method, data=data)
    request.add_header("content-type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    if token:
        request.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            text = response.read()
    except urllib.error.HTTPError as error:
        text = error.read()
    try:
        return json.loads(text)
    except ValueError:
        return text


def finished(base, token, run):
    for _ in range(600):
        body = call(base, "GET", "/api/workflows/runs/%s" % run, token=token)
        if body.get("status") in ("completed", "failed", "cancelled"):
            return body
        time.sleep(0.1)
    raise SystemExit("run %s did not finish" % run)


def main():
    base, email, password = sys.argv[1:4]
    for path in ("/health", "/health/live", "/health/ready", "/metrics", "/api/openapi.json", "/nowhere"):
        call(base, "GET", path)
    call(base, "POST", "/api/auth/login", {"email": email, "password": "wrong password!"})
    tokens = call(base, "POST", "/api/auth/login", {"email": email, "password": password})
    token = tokens["access_token"]
    key = call(base, "POST", "/api/auth/api-keys",
               {"name": "order", "systems": [{"system": "autmatrix", "level": "admin"},
                                             {"system": "relaycore", "level": "read"}]}, token)["key"]
    for credential in (token, key):
        for _ in range(20):
            call(base, "GET", "/api/auth/me", token=credential)
            call(base, "GET", "/api/ai/providers", token=credential)
            call(base, "GET", "/api/workflows", token=credential)
            call(base, "GET", "/api/workflows/runs?limit=10", token=credential)
    call(base, "GET", "/api/auth/me", token="not-a-token")
    call(base, "POST", "/api/workflows", raw=b"{not json", token=token)
    tokens = call(base, "POST", "/api/auth/refresh", {"refresh_token": tokens["refresh_token"]})

    definition = {
        "name": "order-chain", "inputs": {"n": {"type": "integer"}},
        "steps": [
            {"id": "a", "kind": "transform", "output": "${inputs.n + 1}", "next": "check"},
            {"id": "check", "kind": "condition", "if": "steps.a.output > 2", "then": "fan", "else": "z"},
            {"id": "fan", "kind": "parallel", "next": "z", "branches": [
                {"name": "double", "steps": [{"id": "p1", "kind": "transform", "output": "${steps.a.output * 2}"}]},
                {"name": "triple", "steps": [{"id": "p2", "kind": "transform", "output": "${steps.a.output * 3}"}]}]},
            {"id": "z", "kind": "transform", "output": "${steps.a.output}"},
        ],
        "output": "${steps.z.output}",
        "triggers": [{"id": "inbound", "kind": "webhook"},
                     {"id": "tick", "kind": "cron", "schedule": "* * * * * *", "inputs": {"n": 1}}],
    }
    call(base, "POST", "/api/workflows/validate", definition, token)
    created = call(base, "POST", "/api/workflows", definition, token)
    if "id" not in created:
        raise SystemExit("the workflow was refused: %s" % created)
    workflow = created["id"]
    for n in range(10):
        run = call(base, "POST", "/api/workflows/%s/runs" % workflow, {"inputs": {"n": n}}, token)
        finished(base, token, run["id"])
    call(base, "GET", "/api/workflows/%s/runs" % workflow, token=token)

    secret = created["webhook_secrets"][0]["secret"].encode()
    triggers = call(base, "GET", "/api/workflows/%s/triggers" % workflow, token=token)["items"]
    hook = next(t for t in triggers if t.get("webhook_path"))["webhook_path"]
    for n in range(10):
        body = ('{"n": %d}' % n).encode()
        stamp = str(int(time.time()))
        signature = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        call(base, "POST", hook, raw=body, headers={"x-auterity-signature": "t=%s,v1=%s" % (stamp, signature)})
    time.sleep(3)  # cron ticks
    call(base, "DELETE", "/api/workflows/%s" % workflow, token=token)
    call(base, "POST", "/api/auth/logout", {"refresh_token": tokens.get("refresh_token", "")}, token)


if __name__ == "__main__":
    main()
