"""A minimal client of the daemon's unixctl socket (JSON-RPC 1.0 over a
unix stream socket, as ovs-appctl speaks it), kept open across calls so
that a benchmark measures the daemon rather than process start-up."""

import json
import socket

from .procs import Missing


class Unixctl:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError as err:
            self.sock.close()
            raise Missing(f"cannot connect to unixctl socket: {err}") from None
        self.buf = ""
        self.next_id = 0
        self.decoder = json.JSONDecoder()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def call(self, method, *params):
        """Returns the command's result text; raises Missing with the
        daemon's error text if it answers with an error."""
        self.next_id += 1
        request = {"method": method, "params": list(params), "id": self.next_id}
        try:
            self.sock.sendall(json.dumps(request).encode())
            reply = self._read_message()
        except OSError as err:
            raise Missing(f"unixctl {method}: {err}") from None
        if reply.get("error") is not None:
            raise Missing(f"unixctl {method}: {str(reply['error']).strip()[:160]}")
        return reply.get("result") or ""

    def _read_message(self):
        while True:
            text = self.buf.lstrip()
            if text:
                try:
                    message, end = self.decoder.raw_decode(text)
                    self.buf = text[end:]
                    if isinstance(message, dict):
                        return message
                    raise Missing("unixctl reply is not a JSON object")
                except json.JSONDecodeError:
                    if len(text) > 64 << 20:
                        raise Missing("unixctl reply too large") from None
            data = self.sock.recv(65536)
            if not data:
                raise Missing("unixctl connection closed by the daemon")
            self.buf += data.decode("utf-8", "replace")
