"""S3 on loopback: moto_server, started by scripts/start-moto.py (the same code scripts/test.sh uses), and a
counting proxy in front of it per replicator."""
import http.client
import http.server
import importlib.util
import os
import signal
import socketserver
import subprocess
import threading
import time
import urllib.parse

from . import REPO, BenchError, procs

START_MOTO = os.path.join(REPO, "scripts", "start-moto.py")


def _start_moto_module():
    spec = importlib.util.spec_from_file_location("start_moto", START_MOTO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start_moto(log_path):
    """Starts moto_server on a free loopback port, registered with the other children; returns (Popen, port)."""
    sm = _start_moto_module()
    exe = sm.find_moto_server()
    if not exe:
        raise BenchError("moto_server not found in %s/.venv/bin, /tmp/venv/bin or on PATH (pip install "
                         "'moto[server]', or run scripts/test.sh once), or leave out the s3 suite" % REPO)
    try:
        p, port = sm.start(exe, log_path, attempts=5, new_session=True)
    except sm.StartError as e:
        raise BenchError(str(e))
    procs.adopt(p, p.args, log_path)
    return p, port


def stop_moto(p):
    """SIGTERM to moto's session, SIGKILL after 10 s."""
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    procs.forget(p)


def s3_request(port, method, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request(method, path, headers={"Content-Length": "0"})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def s3_env():
    """The replicators' environment: moto's test credentials, no CA bundle (Litestream fails to build its S3 client
    with AWS_CA_BUNDLE set)."""
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1")
    return env


def s3_url(bucket, path, port):
    return "s3://%s/%s?endpoint=http://127.0.0.1:%d&region=us-east-1&force-path-style=true" % (bucket, path, port)


class CountingProxy:
    """A threaded HTTP proxy that forwards every request to moto and counts them by kind: GET, PUT, DELETE,
    POST, HEAD, and LIST (a GET on the bucket with a list-type/prefix query)."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.lock = threading.Lock()
        self.counts = {}
        self.puts_done = []  # perf_counter() when moto answered each successful PUT: the object is in the replica
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline().strip():
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _forward(self):
                body = self._body()
                u = urllib.parse.urlsplit(self.path)
                q = urllib.parse.parse_qs(u.query)
                kind = self.command
                if kind == "GET" and u.path.strip("/").count("/") == 0 and ("list-type" in q or "prefix" in q):
                    kind = "LIST"
                proxy.count(kind)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("transfer-encoding", "connection", "content-length")}
                headers["Content-Length"] = str(len(body))
                c = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=300)
                try:
                    c.request(self.command, self.path, body=body, headers=headers)
                    r = c.getresponse()
                    data = r.read()
                    if self.command == "PUT" and r.status == 200:
                        proxy.put_done()
                    self.send_response_only(r.status, r.reason)
                    for k, v in r.getheaders():
                        if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    c.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self, kind):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def put_done(self):
        with self.lock:
            self.puts_done.append(time.perf_counter())

    def first_put_after(self, t):
        """When the first PUT answered after perf_counter() time `t` was, or None."""
        with self.lock:
            return next((p for p in self.puts_done if p > t), None)

    def snapshot(self):
        with self.lock:
            return dict(self.counts)

    def total(self):
        with self.lock:
            return sum(self.counts.values())

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def wait_quiet(proxy, quiet=3.0, timeout=60):
    """Waits until the proxy has seen no request for `quiet` seconds (the initial sync and snapshot are done)."""
    deadline = time.time() + timeout
    last, since = proxy.total(), time.time()
    while time.time() < deadline:
        time.sleep(0.25)
        n = proxy.total()
        if n != last:
            last, since = n, time.time()
        elif time.time() - since >= quiet:
            return
    raise BenchError("S3 requests did not stop within %d s of the initial sync" % timeout)
