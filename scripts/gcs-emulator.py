#!/usr/bin/env python3
"""A Google Cloud Storage emulator for the tests: gcp-storage-emulator (PyPI) on loopback, one data directory.

    gcs-emulator.py --data-dir DIR [--port N] [--bucket NAME ...]

Prints "listening <port>" on stdout once it accepts connections (port 0: the kernel picks one), then serves until
SIGTERM/SIGINT (it exits at once, as a crashed server would), or until its parent process is gone: a test process
that crashes or is killed leaves no server behind (the watchdog compares getppid() with the parent it started under).
The objects live in the data directory, so a server started again on it has them all (an outage, not a loss).
"""
import argparse
import logging
import os
import signal
import threading
import time

from gcp_storage_emulator.handlers.buckets import create_bucket
from gcp_storage_emulator.server import create_server


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--bucket", action="append", default=[])
    p.add_argument("--log", action="store_true", help="log every request (on stderr)")
    a = p.parse_args()

    parent = os.getppid()

    def watchdog():
        while True:
            if os.getppid() != parent:
                os._exit(0)
            time.sleep(0.5)

    threading.Thread(target=watchdog, daemon=True).start()
    logging.basicConfig(level=logging.INFO if a.log else logging.ERROR)

    server = create_server("127.0.0.1", a.port, in_memory=False, data_dir=os.path.abspath(a.data_dir))
    for bucket in a.bucket:
        if bucket not in server._storage.buckets:
            create_bucket(bucket, server._storage)
    server.start()
    port = server._api._httpd.server_address[1]
    print(f"listening {port}", flush=True)

    def stop(*_):
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
