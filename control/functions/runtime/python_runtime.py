#!/usr/bin/env python3
"""Sluice's function runtime for Python functions (standard library only).

    python3 python_runtime.py [FUNCTION_DIR]

The function folder is the first argument; without one, the working directory when it holds a
func.yaml (a snapshot built from `sluice.dev/source` runs there), else $SLUICE_FUNCTION_DIR
(relative to the working directory). It loads func.py from there and calls `main(context)` for
each request on $PORT. /health/readiness and /health/liveness answer like Knative's function
runtimes; SIGTERM turns readiness to 503, lets in-flight requests finish, and exits.
"""
import importlib.util
import json
import logging
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

MAX_BODY = int(os.environ.get("FUNC_MAX_BODY_BYTES", str(10 * 1024 * 1024)))


def function_dir(argv, env, cwd):
    if len(argv) > 0:
        return os.path.abspath(os.path.join(cwd, argv[0]))
    if os.path.exists(os.path.join(cwd, "func.yaml")):
        return cwd
    if env.get("SLUICE_FUNCTION_DIR"):
        return os.path.abspath(os.path.join(cwd, env["SLUICE_FUNCTION_DIR"]))
    return cwd


def load_main(directory):
    path = os.path.join(directory, "func.py")
    if not os.path.exists(path):
        raise SystemExit(f"function runtime: no func.py in {directory}; it should define main(context)")
    sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location("func", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["func"] = module
    spec.loader.exec_module(module)
    main = getattr(module, "main", None)
    if not callable(main):
        raise SystemExit(f"function runtime: {path} does not define main(context)")
    return main


def parse_body(raw, content_type):
    if not raw:
        return None
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        return json.loads(raw.decode("utf-8"))
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_qsl(raw.decode("utf-8")))
    if kind.startswith("text/") or kind == "":
        return raw.decode("utf-8")
    return raw


def encode(result):
    """A main() return value → (status, headers, bytes)."""
    status, headers, body = 200, {}, result
    if isinstance(result, tuple):
        body, status = result[0], int(result[1])
        if len(result) > 2:
            headers = dict(result[2])
    elif isinstance(result, dict) and ("statusCode" in result or "headers" in result):
        status = int(result.get("statusCode", 200))
        headers = dict(result.get("headers") or {})
        body = result.get("body")
    headers = {k.lower(): str(v) for k, v in headers.items()}
    if result is None:
        return 204, {}, b""
    if body is None:
        data = b""
    elif isinstance(body, (bytes, bytearray)):
        data = bytes(body)
        headers.setdefault("content-type", "application/octet-stream")
    elif isinstance(body, str):
        data = body.encode("utf-8")
        headers.setdefault("content-type", "text/plain; charset=utf-8")
    else:
        data = json.dumps(body).encode("utf-8")
        headers.setdefault("content-type", "application/json")
    return status, headers, data


class JsonFormatter(logging.Formatter):
    """One JSON line a record, like the Node runtime's context.log."""

    def __init__(self, name):
        super().__init__()
        self.name = name

    def format(self, record):
        rec = {"level": record.levelname.lower(), "time": self.formatTime(record), "function": self.name, "msg": record.getMessage()}
        if record.exc_info:
            rec["error"] = self.formatException(record.exc_info)
        return json.dumps(rec)


class State:
    shutting_down = False


def make_handler(main, log):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # access log off; the function logs what it wants
            pass

        def send(self, status, headers, data):
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def handle_any(self):
            url = urlsplit(self.path)
            if url.path == "/health/liveness":
                return self.send(200, {"content-type": "text/plain"}, b"OK")
            if url.path == "/health/readiness":
                if State.shutting_down:
                    return self.send(503, {"content-type": "text/plain"}, b"shutting down")
                return self.send(200, {"content-type": "text/plain"}, b"OK")
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                self.close_connection = True
                return self.send(413, {"content-type": "text/plain"}, f"request body over {MAX_BODY} bytes".encode())
            raw = self.rfile.read(length) if length > 0 else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                body = parse_body(raw, headers.get("content-type"))
            except ValueError as err:
                return self.send(400, {"content-type": "text/plain"}, f"request body is not valid {headers.get('content-type')}: {err}".encode())
            context = SimpleNamespace(method=self.command, path=url.path, headers=headers,
                                      query=dict(parse_qsl(url.query)), body=body, raw_body=raw, log=log)
            try:
                result = main(context)
            except Exception:  # the function's error: logged, answered 500 without details
                log.exception("handler failed")
                return self.send(500, {"content-type": "text/plain"}, b"Internal Server Error")
            self.send(*encode(result))

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any

    return Handler


def run():
    directory = function_dir(sys.argv[1:], os.environ, os.getcwd())
    name = os.environ.get("K_SERVICE") or os.path.basename(directory)
    log = logging.getLogger(name)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(name))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    main = load_main(directory)
    port = int(os.environ.get("PORT", "8080"))
    host = os.environ.get("FUNC_HOST", "127.0.0.1")
    server = ThreadingHTTPServer((host, port), make_handler(main, log))
    server.daemon_threads = False  # server_close() joins in-flight requests
    print(f"function {name} (func.py) listening on http://{host}:{server.server_address[1]}", file=sys.stderr, flush=True)

    def stop(signum, frame):
        State.shutting_down = True
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    run()
