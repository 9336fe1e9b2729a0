"""A threaded HTTP server on 127.0.0.1 with a free port: the local apps, listeners, blob store and emulator."""

from __future__ import annotations

import http.server
import threading


class LoopbackServer:
    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler], name: str) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        # a short poll: shutdown() waits for it, and the world closes apps after every deployment and scenario
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True, name=name).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
