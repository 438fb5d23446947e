"""A peer for bench/auth_read.sh: the same request shape as Auterity's GET /api/auth/me, in FastAPI.

GET /me verifies an HS256 JWT (signature, exp, iss), checks an in-memory revocation set, then reads
the user, its system grants and its teams from SQLite (WAL) — three queries, like Auterity.
GET /health answers without auth or database, as the baseline.

    python app.py seed DB          create and fill the database, print a token valid for 1 hour
    uvicorn app:app ...            serve (PEER_DB names the database)
"""

import json
import os
import sqlite3
import sys
import threading
import time
import uuid

import jwt
from fastapi import FastAPI, Header, HTTPException

SECRET = os.environ.get("PEER_JWT_SECRET", "bench-peer-secret-not-for-production-0123456789")
ISSUER = "bench-peer"
DB = os.environ.get("PEER_DB", "peer.db")
ORG = "00000000-0000-7000-8000-000000000001"
USER = "00000000-0000-7000-8000-000000000002"

SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, email TEXT NOT NULL,
  username TEXT NOT NULL, roles TEXT NOT NULL, is_active INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS access_grants (org_id TEXT NOT NULL, user_id TEXT NOT NULL, system TEXT NOT NULL,
  level TEXT NOT NULL, PRIMARY KEY (user_id, system));
CREATE TABLE IF NOT EXISTS teams (id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS team_members (team_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (team_id, user_id));
"""


def seed(path):
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    con.execute("INSERT OR REPLACE INTO users VALUES (?,?,?,?,?,?,?)",
                (USER, ORG, "admin@bench.local", "admin", json.dumps(["admin"]), 1, "2025-01-01T00:00:00Z"))
    for system in ("autmatrix", "relaycore", "neuroweaver"):
        con.execute("INSERT OR REPLACE INTO access_grants VALUES (?,?,?,?)", (ORG, USER, system, "admin"))
    con.commit()
    con.close()
    now = int(time.time())
    claims = {"sub": USER, "org": ORG, "iat": now, "exp": now + 3600, "iss": ISSUER, "jti": str(uuid.uuid4()),
              "roles": ["admin"], "systems": [{"system": "relaycore", "level": "admin"}]}
    return jwt.encode(claims, SECRET, algorithm="HS256")


app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
_local = threading.local()
REVOKED = set()


def db():
    con = getattr(_local, "con", None)
    if con is None:
        con = sqlite3.connect(DB, check_same_thread=False)
        con.execute("PRAGMA query_only = 1")
        _local.con = con
    return con


@app.get("/health")
def health():
    return {"status": "ok"}


@app.get("/me")
def me(authorization: str = Header(default="")):
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing credentials")
    try:
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer=ISSUER, options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        raise HTTPException(401, "invalid token")
    if claims.get("jti") in REVOKED:
        raise HTTPException(401, "revoked")
    con = db()
    row = con.execute("SELECT id, org_id, email, username, roles, is_active, created_at FROM users "
                      "WHERE org_id = ? AND id = ?", (claims["org"], claims["sub"])).fetchone()
    if row is None or not row[5]:
        raise HTTPException(404, "user not found")
    grants = con.execute("SELECT system, level FROM access_grants WHERE org_id = ? AND user_id = ? ORDER BY system",
                         (row[1], row[0])).fetchall()
    teams = con.execute("SELECT t.id FROM teams t JOIN team_members m ON m.team_id = t.id "
                        "WHERE t.org_id = ? AND m.user_id = ? ORDER BY t.name", (row[1], row[0])).fetchall()
    return {
        "user": {"id": row[0], "org_id": row[1], "email": row[2], "username": row[3], "roles": json.loads(row[4]),
                 "is_active": bool(row[5]), "created_at": row[6],
                 "systems": [{"system": s, "level": l} for s, l in grants]},
        "permissions": [f"{s}:{l}" for s, l in grants],
        "teams": [t[0] for t in teams],
        "authenticated_via": "access_token",
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "seed":
        print(seed(sys.argv[2]))
    else:
        sys.exit(__doc__)
