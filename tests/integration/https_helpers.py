"""A local HTTPS server for the download tests (k3s release files, guest images): a CA and a
certificate for 127.0.0.1 made with openssl, a threaded HTTP server over real TLS that serves
what a Site holds, and SSL_CERT_FILE (HttpsServer.ca) under which berth trusts it. The Site
records every request and can answer a redirect, a 404, a body cut short or one sent slowly.
Loopback only."""
import http.server
import os
import shutil
import ssl
import subprocess
import threading
import time

from berth_harness import short_tmpdir


class Site:
    """What an HttpsServer serves, and what it was asked for. Bodies are looked up by key(path)
    (the path itself unless a subclass maps it); truncate and slow hold keys too."""

    def __init__(self):
        self.files = {}        # key -> body (bytes)
        self.requests = []     # every path asked for, in order
        self.truncate = set()  # keys whose body is cut short: half sent, then the connection closes
        self.slow = set()      # keys sent in 16 pieces over ~1.6 s (so progress lines show)
        self.moved = {}        # path prefix -> the prefix a 302 sends the client to instead

    def key(self, path):
        return path

    def body(self, key):
        return self.files.get(key)


def _handler(site):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            site.requests.append(self.path)
            for old, new in site.moved.items():
                if self.path.startswith(old):  # a redirect, as GitHub's downloads answer
                    self.send_response(302)
                    self.send_header("Location", new + self.path[len(old):])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            key = site.key(self.path)
            body = site.body(key) if key is not None else None
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if key in site.truncate:
                self.wfile.write(body[:len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if key in site.slow:
                step = max(1, len(body) // 16)
                for i in range(0, len(body), step):
                    self.wfile.write(body[i:i + step])
                    self.wfile.flush()
                    time.sleep(0.1)
                return
            self.wfile.write(body)

    return Handler


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


class HttpsServer:
    """Serves `site` on https://127.0.0.1:<port> (url) with a certificate signed by a CA made
    for this server (ca: the file SSL_CERT_FILE names). dir is a scratch folder for the test;
    close() stops the server and removes it."""

    def __init__(self, site, tag):
        self.site = site
        self.dir = short_tmpdir(tag)
        d = self.dir
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                 "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                 "-keyout", "srv.key", "-out", "srv.csr", cwd=d)
        with open(os.path.join(d, "ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n")
        _openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-extfile", "ext", "-out", "srv.pem", cwd=d)
        self.ca = os.path.join(d, "ca.pem")
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.path.join(d, "srv.pem"), os.path.join(d, "srv.key"))
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = "https://127.0.0.1:%d" % self._server.server_address[1]

    def close(self):
        self._server.shutdown()
        shutil.rmtree(self.dir, ignore_errors=True)


def one_error_line(p):
    """The command failed with exactly one `berth:` line, and it is the last line."""
    assert p.returncode == 1, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    errors = [l for l in lines if l.startswith("berth:")]
    assert len(errors) == 1 and lines[-1] == errors[0], p.stderr
    return errors[0]
