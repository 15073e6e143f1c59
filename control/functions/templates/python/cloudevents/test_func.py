import logging
import unittest
from types import SimpleNamespace

from func import main


class Event(dict):
    """Stands in for the runtime's CloudEvent: attributes by name, and .data."""

    def __init__(self, data, **attributes):
        super().__init__(attributes)
        self.data = data


def context(event):
    return SimpleNamespace(method="POST", path="/", headers={}, query={}, body=None, cloud_event=event,
                           log=logging.getLogger("test"))


class TestFunc(unittest.TestCase):
    def test_replies_with_the_data_it_received(self):
        event = Event({"n": 1}, specversion="1.0", id="1", type="example.ping", source="/test")
        reply = main(context(event))
        self.assertEqual(reply["type"], "{{name}}.response")
        self.assertEqual(reply["data"], {"received": {"n": 1}})

    def test_a_request_without_an_event_is_refused(self):
        self.assertEqual(main(context(None))["statusCode"], 400)


if __name__ == "__main__":
    unittest.main()
