"""An HTTP function: called with each request's context.

context.method, context.path, context.headers (dict, lower-case names), context.query (dict),
context.body (parsed by content type: JSON → dict/list, form → dict, text → str, else bytes),
context.log (a logging.Logger).

Return a body (str, bytes, dict/list → JSON), a (body, status) tuple, or
{"statusCode": 201, "headers": {...}, "body": ...}.
"""


def main(context):
    context.log.info("%s %s", context.method, context.path)
    if context.method == "POST":
        return {"statusCode": 200, "body": {"received": context.body}}
    name = context.query.get("name")
    return "Hello from {{name}}" + (", " + name if name else "") + "!\n"
