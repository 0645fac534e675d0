#!/usr/bin/env python3
"""A fake Confluent schema registry for fault tests (test/t/registry_faults.sh).

Listens on 127.0.0.1 (a free port, written to --port-file), optionally with TLS, and behaves by
the first path segment of each request, so that one server plays every broken registry:

  /ok/...          a tiny working registry: GET /subjects, GET /schemas/ids/N, GET
                   /subjects/S/versions/latest, POST /subjects/S/versions, GET/PUT /config[/S],
                   POST /compatibility/...; subjects named missing* do not exist
  /auth/...        like /ok, but only with basic auth reguser:s3cret-pw (else 401)
  /hang/...        reads the request and never answers (until the server stops)
  /slow/MS/...     answers like /ok after MS milliseconds
  /status/N/...    answers HTTP status N with a Confluent error body (error_code N*100+1)
  /garbage/...     answers 200 with a body that is not JSON
  /binary/...      answers 200 with bytes that are not UTF-8 (and a NUL)
  /big/...         answers 200 with a 70 MB body
  /redirect/...    answers 302 to the same path under /ok
  /baddefault/...  like /ok, but every schema id is the record r {zz: long}, and every subject's
                   latest version r {a: long with the default "notalong" (not a long), zz: long}

Each request is logged to --log as "METHOD PATH AUTH" (AUTH: the Authorization header or -).
Stops by itself after --lifetime seconds.
"""
import argparse
import base64
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD_AUTH = "Basic " + base64.b64encode(b"reguser:s3cret-pw").decode()
stop = threading.Event()
log_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def ok(self, parts, method):
        # parts: the path after the behaviour prefix, split on '/'
        if method == "GET" and parts == ["subjects"]:
            return self.send_json(200, ["fake-subject"])
        if method == "GET" and len(parts) == 3 and parts[:2] == ["schemas", "ids"]:
            return self.send_json(200, {"schema": '"string"'})
        if len(parts) >= 2 and parts[0] == "subjects" and parts[1].startswith("missing"):
            return self.send_json(404, {"error_code": 40401, "message": "fake: no subject " + parts[1]})
        if method == "GET" and len(parts) == 4 and parts[0] == "subjects" and parts[2] == "versions":
            return self.send_json(200, {"subject": parts[1], "version": 3, "id": 42, "schema": '"string"'})
        if method == "POST" and len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
            return self.send_json(200, {"id": 42})
        if parts[:1] == ["config"]:
            return self.send_json(200, {"compatibilityLevel": "BACKWARD", "compatibility": "BACKWARD"})
        if method == "POST" and parts[:1] == ["compatibility"]:
            return self.send_json(200, {"is_compatible": False, "messages": ["fake reason one", "fake reason two"]})
        return self.send_json(404, {"error_code": 40401, "message": "fake: unknown " + "/".join(parts)})

    def handle_any(self, method):
        path = self.path.split("?", 1)[0]
        with log_lock:
            with open(args.log, "a") as f:
                f.write("%s %s %s\n" % (method, self.path, self.headers.get("Authorization", "-")))
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        parts = [p for p in path.split("/") if p]
        kind = parts[0] if parts else ""
        if kind == "hang":
            stop.wait(args.lifetime)
            self.close_connection = True
            return
        if kind == "slow":
            time.sleep(int(parts[1]) / 1000.0)
            return self.ok(parts[2:], method)
        if kind == "status":
            code = int(parts[1])
            return self.send_json(code, {"error_code": code * 100 + 1, "message": "fake error %d" % code})
        if kind == "garbage":
            body = b"<html>this is not JSON</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if kind == "binary":
            body = b"\xff\xfe\x00{\"schema\": 1}"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if kind == "big":
            chunk = b"[" + b"1," * (512 * 1024)
            total = 70 * 1024 * 1024
            self.send_response(200)
            self.send_header("Content-Length", str(total))
            self.end_headers()
            sent = 0
            try:
                while sent < total:
                    part = chunk[: total - sent]
                    self.wfile.write(part)
                    sent += len(part)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
            return
        if kind == "redirect":
            self.send_response(302)
            self.send_header("Location", "/ok/" + "/".join(parts[1:]))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if kind == "auth":
            if self.headers.get("Authorization") != GOOD_AUTH:
                return self.send_json(401, {"error_code": 40101, "message": "fake: unauthorized"})
            return self.ok(parts[1:], method)
        if kind == "baddefault":
            rest = parts[1:]
            if method == "GET" and len(rest) == 3 and rest[:2] == ["schemas", "ids"]:
                return self.send_json(200, {"schema": json.dumps(
                    {"type": "record", "name": "r", "fields": [{"name": "zz", "type": "long"}]})})
            if method == "GET" and len(rest) == 4 and rest[0] == "subjects" and rest[2:] == ["versions", "latest"]:
                return self.send_json(200, {"subject": rest[1], "version": 2, "id": 43, "schema": json.dumps(
                    {"type": "record", "name": "r", "fields": [
                        {"name": "a", "type": "long", "default": "notalong"}, {"name": "zz", "type": "long"}]})})
            return self.ok(rest, method)
        if kind == "ok":
            return self.ok(parts[1:], method)
        return self.send_json(404, {"message": "no such fake behaviour"})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")


ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--cert")
ap.add_argument("--key")
ap.add_argument("--lifetime", type=int, default=300)
args = ap.parse_args()

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
if args.cert:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(args.port_file + ".tmp", args.port_file)
threading.Timer(args.lifetime, lambda: (stop.set(), server.shutdown())).start()
try:
    server.serve_forever(poll_interval=0.2)
finally:
    stop.set()
    sys.exit(0)
