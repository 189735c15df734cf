#!/usr/bin/env python3
"""Strict HTTP/1.1 response validator for keel's raw-socket tests.

Reads JSON on stdin:
  {"methods": ["GET", "HEAD", ...], "data": "<base64>", "closed": true|false}
where `methods` are the methods of the requests sent on one connection, in
order (GET for a malformed request), `data` every byte the server sent on it
and `closed` whether the server closed the connection.

Writes JSON on stdout and always exits 0 (the Rust side asserts):
  {"responses": [{"status": 200, "headers": [[name, value], ...],
                  "body_b64": "...", "informational": [100]}, ...],
   "error": null | "<h11 RemoteProtocolError text>",
   "trailing_bytes": N}

A JSON list of such objects is checked item by item and answered with a
list of results, in order (one process for many connections).

The bytes are parsed by h11 in the client role: for each method a synthetic
well-formed request is "sent" only to advance h11's state (so it knows HEAD
framing), then one response is read. It stops when the data runs out or when
h11 says the connection must close; whatever is left unconsumed (such as a
response after `connection: close`) counts in `trailing_bytes`.

One extension: h11 models no HTTP/1.0 keep-alive (RFC 9112 §9.3 and its
Appendix C.2.2 keep it for compatibility). After a complete HTTP/1.0
response carrying `connection: keep-alive` and no `close`, parsing goes on
with a fresh h11 connection on the bytes that follow.
"""

import base64
import json
import sys

import h11


def connection_tokens(headers):
    tokens = set()
    for name, value in headers:
        if name == "connection":
            tokens.update(t.strip().lower() for t in value.split(","))
    return tokens


def new_connection(data, closed):
    conn = h11.Connection(h11.CLIENT)
    conn.receive_data(data)
    if closed:
        conn.receive_data(b"")
    return conn


def check(methods, data, closed):
    responses = []
    conn = new_connection(data, closed)
    error = None
    for method in methods:
        if not conn.trailing_data[0]:
            # The data ran out: nothing more was answered (before a close,
            # or within the client's wait).
            break
        current = None
        informational = []
        body = bytearray()
        try:
            conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
            conn.send(h11.EndOfMessage())
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    if current is not None or conn.trailing_data[0]:
                        error = "incomplete response: the data ran out inside it"
                    break
                if isinstance(event, h11.ConnectionClosed):
                    break
                if isinstance(event, h11.InformationalResponse):
                    informational.append(event.status_code)
                elif isinstance(event, h11.Response):
                    current = {
                        "status": event.status_code,
                        "version": event.http_version.decode("ascii"),
                        "headers": [
                            [n.decode("latin-1"), v.decode("latin-1")]
                            for n, v in event.headers
                        ],
                    }
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    current["body_b64"] = base64.b64encode(bytes(body)).decode("ascii")
                    current["informational"] = informational
                    responses.append(current)
                    break
        except (h11.RemoteProtocolError, h11.LocalProtocolError) as e:
            error = str(e) or repr(e)
        if error is not None or current is None or "body_b64" not in current:
            break
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            continue
        # h11 says MUST_CLOSE. An HTTP/1.0 keep-alive response is the one
        # case it does not model: go on with a fresh parser.
        tokens = connection_tokens(current["headers"])
        if current["version"] == "1.0" and "keep-alive" in tokens and "close" not in tokens:
            rest = conn.trailing_data[0]
            conn = new_connection(rest, closed)
            continue
        break
    for r in responses:
        r.pop("version", None)
    return {
        "responses": responses,
        "error": error,
        "trailing_bytes": len(conn.trailing_data[0]),
    }


def check_one(request):
    data = base64.b64decode(request["data"])
    return check(request["methods"], data, bool(request["closed"]))


def main():
    request = json.load(sys.stdin)
    if isinstance(request, list):
        result = [check_one(r) for r in request]
    else:
        result = check_one(request)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
