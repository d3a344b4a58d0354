#!/usr/bin/env python3
"""A WebDAV server for the tests: wsgidav on cheroot, one directory, HTTP basic auth, loopback only.

    webdav-server.py --root DIR [--port N] [--user U --password-file F] [--mount /PREFIX] [--tls-dir DIR]

With --tls-dir it serves HTTPS with a certificate for 127.0.0.1 signed by a test CA, both made on first use and
kept in that directory (ca.pem is what a client must trust; a restart on the same directory keeps them).

Prints "listening <port>" on stdout once it accepts connections (port 0: the kernel picks one), then serves until
SIGTERM/SIGINT (it exits at once), or until its parent process is gone: a test process that crashes or is killed leaves no server
behind (the watchdog compares getppid() with the parent it started under, which works on Linux and macOS alike).
The password comes from a file so that it never appears in `ps`.
"""
import argparse
import io
import os
import signal
import sys
import threading
import time

from cheroot import wsgi
from wsgidav.wsgidav_app import WsgiDAVApp


class ChunkedBodies:
    """Reads a chunked request body whole before wsgidav sees the request.

    Litestream 0.5.17's WebDAV client (gowebdav) sends its PROPFIND bodies with `Transfer-Encoding: chunked`, which
    HTTP/1.1 servers must accept. cheroot decodes them, but wsgidav reads a body only up to CONTENT_LENGTH, which a
    chunked request does not have: the body stays unread in the connection, cheroot then parses it as the next
    request ("400 Malformed Request-Line"), and that 400 answers the client's next request on the connection
    (Litestream 0.5.17 then fails with "PROPFIND …: 400", depending on timing). Apache's mod_dav reads chunked
    bodies; this makes wsgidav do the same.
    """

    def __init__(self, app, behind_proxy=False):
        self.app = app
        self.behind_proxy = behind_proxy

    def __call__(self, environ, start_response):
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = environ["wsgi.input"].read()
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            del environ["HTTP_TRANSFER_ENCODING"]
        # Behind a proxy (the tests' fault proxy), a MOVE's Destination names the proxy's host and port, which
        # wsgidav refuses as another host: rewrite it to this server, as a reverse proxy in front of WebDAV does.
        destination = environ.get("HTTP_DESTINATION")
        if self.behind_proxy and destination and "://" in destination:
            rest = destination.split("://", 1)[1]
            path = rest[rest.find("/"):] if "/" in rest else "/"
            environ["HTTP_DESTINATION"] = "%s://%s%s" % (environ["wsgi.url_scheme"], environ["HTTP_HOST"], path)
        return self.app(environ, start_response)


def make_certificates(tls_dir):
    """A CA and a server certificate for 127.0.0.1 it signed, in tls_dir (ca.pem, server.pem, server-key.pem)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    paths = [os.path.join(tls_dir, n) for n in ("ca.pem", "server.pem", "server-key.pem")]
    if all(os.path.exists(p) for p in paths):
        return paths[1], paths[2]
    os.makedirs(tls_dir, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "litestream test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    with open(paths[0], "wb") as f:
        f.write(ca.public_bytes(pem))
    with open(paths[1], "wb") as f:
        f.write(cert.public_bytes(pem))
    with open(paths[2], "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths[1], paths[2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--user", default=None)
    p.add_argument("--password-file", default=None)
    p.add_argument("--mount", default="/", help="URL path the root directory is served at")
    p.add_argument("--log", default=None, help="log every request (on stdout)")
    p.add_argument("--behind-proxy", action="store_true", help="rewrite a MOVE's Destination to this server")
    p.add_argument("--tls-dir", default=None, help="serve HTTPS; the test CA and certificate live here")
    a = p.parse_args()

    parent = os.getppid()

    def watchdog():
        while True:
            if os.getppid() != parent:
                os._exit(0)
            time.sleep(0.5)

    threading.Thread(target=watchdog, daemon=True).start()

    if a.user is not None:
        with open(a.password_file) as f:
            password = f.read().strip()
        users = {"*": {a.user: {"password": password}}}
    else:
        users = {"*": True}  # anonymous
    config = {
        "host": "127.0.0.1",
        "port": a.port,
        "provider_mapping": {a.mount: a.root},
        "simple_dc": {"user_mapping": users},
        "http_authenticator": {
            "accept_basic": True,
            "accept_digest": False,
            "default_to_digest": False,
            "trusted_auth_header": None,
        },
        "verbose": 3 if a.log else 1,
        "logging": {"enable": bool(a.log)},
        "lock_storage": True,
        "property_manager": True,
    }
    app = ChunkedBodies(WsgiDAVApp(config), behind_proxy=a.behind_proxy)
    server = wsgi.Server(("127.0.0.1", a.port), app, numthreads=10)
    if a.tls_dir:
        from cheroot.ssl.builtin import BuiltinSSLAdapter

        certificate, private_key = make_certificates(a.tls_dir)
        server.ssl_adapter = BuiltinSSLAdapter(certificate, private_key)
    server.prepare()
    port = server.bind_addr[1]
    print(f"listening {port}", flush=True)

    # Stop at once, as a crashed server would: the kernel closes the listening socket and every connection, and a
    # test's outage starts now rather than after cheroot's graceful shutdown of its worker threads.
    def stop(*_):
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve()


if __name__ == "__main__":
    main()
