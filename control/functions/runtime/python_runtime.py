#!/usr/bin/env python3
"""Sluice's function runtime for Python functions (standard library only).

    python3 python_runtime.py [FUNCTION_DIR]

The function folder is the first argument; without one, the working directory when it holds a
func.yaml (a snapshot built from `sluice.dev/source` runs there), else $SLUICE_FUNCTION_DIR
(relative to the working directory). It loads func.py from there and calls `main(context)` for
each request on $PORT. /health/readiness and /health/liveness answer like Knative's function
runtimes; SIGTERM turns readiness to 503, lets in-flight requests finish, and exits.

A request that carries a CloudEvent (the CloudEvents HTTP binding 1.0: binary mode, ce-* headers;
structured mode, application/cloudevents+json) sets context.cloud_event, as Knative's Python
runtime (parliament) does; a returned event ({"type", "source", "data", ...} or a CloudEvent) is the
reply, in binary mode, and None is 202. Parsed here with the standard library: no pip install.
"""
import base64
import importlib.util
import json
import logging
import os
import signal
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qsl, quote, unquote, urlsplit

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


class CloudEvent:
    """A CloudEvent: attributes by name and its data, with the accessors of the cloudevents SDK's
    CloudEvent that functions use (event["type"], event.get("subject"), event.data,
    get_attributes(), get_data())."""

    def __init__(self, attributes, data=None):
        self._attributes = dict(attributes)
        self.data = data

    def __getitem__(self, name):
        return self._attributes[name]

    def __contains__(self, name):
        return name in self._attributes

    def get(self, name, default=None):
        return self._attributes.get(name, default)

    def get_attributes(self):
        return dict(self._attributes)

    def get_data(self):
        return self.data

    def __repr__(self):
        return f"CloudEvent({self._attributes!r}, data={self.data!r})"


CE_REQUIRED = ("id", "source", "specversion", "type")
CE_VERSIONS = ("1.0", "0.3")
# the HTTP binding (3.1.3.2): header values percent-encode space, '"', '%' and all but printable ASCII
CE_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


def header_attribute(value):
    """A ce-* header's value: percent-decoded (the binding), and UTF-8 sent raw (as the JavaScript
    SDK does) read as UTF-8 rather than as http.server's Latin-1."""
    try:
        value = value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass
    return unquote(value)


def carries_event(headers):
    """A cheap look first, so that plain HTTP requests never pay for the binding."""
    return "ce-specversion" in headers or headers.get("content-type", "").lower().startswith("application/cloudevents")


def to_event(headers, raw):
    """The request's CloudEvent, binary or structured mode; ValueError says what is wrong with it."""
    content_type = headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    if kind.startswith("application/cloudevents"):
        if kind != "application/cloudevents+json":
            raise ValueError(f"{kind} is not supported: send one event a request, in binary mode or as application/cloudevents+json")
        obj = json.loads(raw.decode("utf-8")) if raw else None
        if not isinstance(obj, dict):
            raise ValueError("a structured-mode event must be a JSON object")
        attributes = {k: v for k, v in obj.items() if k not in ("data", "data_base64")}
        data = base64.b64decode(obj["data_base64"], validate=True) if "data_base64" in obj else obj.get("data")
    else:
        attributes = {k[3:]: header_attribute(v) for k, v in headers.items() if k.startswith("ce-")}
        if content_type:
            attributes["datacontenttype"] = content_type
        data = parse_body(raw, content_type)
    missing = [a for a in CE_REQUIRED if not isinstance(attributes.get(a), str) or attributes[a] == ""]
    if missing:
        raise ValueError(f"missing required attribute{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if attributes["specversion"] not in CE_VERSIONS:
        raise ValueError(f"specversion {attributes['specversion']!r} is not supported; use 1.0")
    return CloudEvent(attributes, data)


def is_event_shaped(value):
    if isinstance(value, CloudEvent) or callable(getattr(value, "get_attributes", None)):
        return True
    return isinstance(value, dict) and isinstance(value.get("type"), str) and isinstance(value.get("source"), str)


def header_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def encode_event(value):
    """A returned event → (status, headers, bytes) in binary mode; id and specversion filled in."""
    if isinstance(value, dict):
        attributes = {k: v for k, v in value.items() if k not in ("data", "data_base64")}
        data = base64.b64decode(value["data_base64"]) if "data_base64" in value else value.get("data")
    else:
        attributes = dict(value.get_attributes())
        data = value.get_data() if callable(getattr(value, "get_data", None)) else getattr(value, "data", None)
    attributes.setdefault("specversion", "1.0")
    attributes.setdefault("id", str(uuid.uuid4()))
    content_type = attributes.pop("datacontenttype", None)
    if data is None:
        body = b""
    elif isinstance(data, (bytes, bytearray)):
        body = bytes(data)
        content_type = content_type or "application/octet-stream"
    elif isinstance(data, str):
        body = data.encode("utf-8")
        content_type = content_type or "text/plain; charset=utf-8"
    else:
        body = json.dumps(data).encode("utf-8")
        content_type = content_type or "application/json"
    headers = {"ce-" + k: quote(header_value(v), safe=CE_HEADER_SAFE) for k, v in attributes.items() if v is not None}
    if content_type:
        headers["content-type"] = content_type
    return 200, headers, body


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
            event = None
            if carries_event(headers):
                try:
                    event = to_event(headers, raw)
                except ValueError as err:  # json, base64 and unicode errors are ValueErrors too
                    return self.send(400, {"content-type": "text/plain"}, f"invalid CloudEvent: {err}".encode())
                body = event.data
            else:
                try:
                    body = parse_body(raw, headers.get("content-type"))
                except ValueError as err:
                    return self.send(400, {"content-type": "text/plain"}, f"request body is not valid {headers.get('content-type')}: {err}".encode())
            context = SimpleNamespace(method=self.command, path=url.path, headers=headers,
                                      query=dict(parse_qsl(url.query)), body=body, raw_body=raw, log=log,
                                      cloud_event=event)
            try:
                result = main(context)
                if event is not None and result is None:
                    return self.send(202, {}, b"")
                answer = encode_event(result) if event is not None and is_event_shaped(result) else encode(result)
            except Exception:  # the function's error: logged, answered 500 without details
                log.exception("handler failed")
                return self.send(500, {"content-type": "text/plain"}, b"Internal Server Error")
            self.send(*answer)

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
