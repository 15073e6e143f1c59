"""A CloudEvents function: called with each event (a Trigger's delivery, or any binary or
structured CloudEvent POSTed to it).

context.cloud_event is the event: event["type"], event["source"], event.get("subject"),
event.data (JSON → dict/list, text → str, else bytes); None when the request carried no event.
context.headers, context.log (a logging.Logger) as for HTTP functions.

Return an event, a dict with "type", "source" and "data" (and "datacontenttype", "subject", ...;
"id" and "specversion" are filled in): it is the reply, sent back in binary mode, which a Broker
routes like any other event. Return None to answer 202 Accepted.
"""


def main(context):
    event = context.cloud_event
    if event is None:
        return {"statusCode": 400, "body": "expected a CloudEvent (ce-* headers or application/cloudevents+json)\n"}
    context.log.info("received %s from %s", event["type"], event["source"])
    return {
        "type": "{{name}}.response",
        "source": "{{name}}",
        "datacontenttype": "application/json",
        "data": {"received": event.data},
    }
