#!/usr/bin/env python3
"""A real downstream for the integration tests: Python's own HTTP/1.1 server (keep-alive, threads).

Prints its port on the first line of stdout, then serves until killed.
  /stats             {"connections": N, "requests": M}
  /slow?ms=N         answers after N ms
  /chunked           a chunked response
  /status/N          answers with status N and a small JSON body
  /close             answers with Connection: close
  anything else      echoes method, path, headers and body as JSON
"""
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

lock = threading.Lock()
stats = {"connections": 0, "requests": 0}

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def setup(self):
        super().setup()
        with lock:
            stats["connections"] += 1

    def log_message(self, *args):
        pass

    def send_json(self, status, obj, extra=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "keep-alive, X-Hop")
        self.send_header("X-Hop", "must-not-pass")
        self.send_header("Keep-Alive", "timeout=5")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        with lock:
            stats["requests"] += 1
        url = urlparse(self.path)
        q = parse_qs(url.query)
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path == "/stats":
            with lock:
                return self.send_json(200, dict(stats))
        if url.path == "/slow":
            time.sleep(int(q.get("ms", ["1000"])[0]) / 1000)
            return self.send_json(200, {"slow": True})
        if url.path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in [b"hello ", b"chunked ", b"world"]:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        if url.path == "/bytes":
            data = b"a" * int(q.get("n", ["0"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if url.path.startswith("/status/"):
            return self.send_json(int(url.path.split("/")[2]), {"status": int(url.path.split("/")[2])})
        if url.path == "/close":
            body = b'{"closing":true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        self.send_json(200, {
            "method": self.command, "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("utf-8", "replace"),
        })

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
