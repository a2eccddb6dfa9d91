"""moto, the AWS emulator, on 127.0.0.1 with every request served under one lock.

moto's own server is threaded, and its DynamoDB conditional writes are not atomic under
concurrent requests (two racing writers both win in a few percent of rounds), which would
make race tests measure moto instead of our code. One lock around the WSGI app makes each
request atomic, as DynamoDB is.

    python tests/moto_serial.py PORT_FILE

Binds an ephemeral port, writes it to PORT_FILE, serves until killed.
"""
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

LOCK = threading.Lock()
APP = DomainDispatcherApplication(create_backend_app)


def serialized(environ, start_response):
    with LOCK:
        # Build the whole response inside the lock: moto's work happens while iterating.
        return list(APP(environ, start_response))


def main() -> None:
    server = make_server("127.0.0.1", 0, serialized, threaded=True, request_handler=MotoRequestHandler)
    with open(sys.argv[1], "w", encoding="ascii") as f:
        f.write(str(server.server_port))
    server.serve_forever()


if __name__ == "__main__":
    main()
