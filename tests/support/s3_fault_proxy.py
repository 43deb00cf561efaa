#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for the S3 retry tests (tests/s3/test_s3_retry.sh), standard
library only: weir talks to it as its s3.endpoint, and it forwards each request to the real
store (S3Proxy) unchanged (the Host header too, so SigV4 signatures still hold), except that
the first N requests whose "METHOD /path?query" matches --match get a fault instead:

  503       HTTP 503 ServiceUnavailable (not forwarded)
  slowdown  HTTP 503 SlowDown (not forwarded)
  500       HTTP 500 InternalError (not forwarded)
  drop      the connection closed with no answer (not forwarded)
  lose      forwarded (it takes effect in the store), then the connection closed with no
            answer: the answer is lost on the way back

Every request is logged to --log as "fault METHOD TARGET" or "pass METHOD TARGET STATUS".
The port it listens on (127.0.0.1, chosen by the kernel) is written to --port-file.

  s3_fault_proxy.py --upstream 127.0.0.1:9000 --port-file P --log L \
                    --match '^PUT .*/_metadata' --fail 3 --how 503
"""
import argparse
import http.client
import http.server
import os
import re
import socket
import sys
import threading

FAULTS = {
    "503": (503, "ServiceUnavailable", "Please reduce your request rate."),
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--match", default=".")
    ap.add_argument("--fail", type=int, default=0)
    ap.add_argument("--how", default="503", choices=list(FAULTS) + ["drop", "lose"])
    a = ap.parse_args()
    host, port = a.upstream.rsplit(":", 1)
    match = re.compile(a.match)
    lock = threading.Lock()
    state = {"left": a.fail}
    log = open(a.log, "a", buffering=1)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def handle_any(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            what = "%s %s" % (self.command, self.path)
            with lock:
                fault = match.search(what) is not None and state["left"] > 0
                if fault:
                    state["left"] -= 1
            if fault and a.how in FAULTS:
                log.write("fault %s\n" % what)
                status, code, msg = FAULTS[a.how]
                x = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                     "<Message>%s</Message></Error>" % (code, msg)).encode()
                self.send_response_only(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(x)))
                self.end_headers()
                self.wfile.write(x)
                return
            if fault and a.how == "drop":
                log.write("fault %s\n" % what)
                self.cut()
                return
            up = http.client.HTTPConnection(host, int(port), timeout=120)
            up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                up.putheader(k, v)
            up.endheaders(body)
            resp = up.getresponse()
            data = resp.read()
            up.close()
            if fault:  # lose: it took effect, and the answer never comes
                log.write("fault %s (forwarded: %d)\n" % (what, resp.status))
                self.cut()
                return
            log.write("pass %s %d\n" % (what, resp.status))
            self.send_response_only(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            if self.command == "HEAD":
                self.send_header("Content-Length", resp.getheader("Content-Length") or "0")
            else:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def cut(self):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
