import logging
import unittest
from types import SimpleNamespace

from func import main


def context(method="GET", query=None, body=None):
    return SimpleNamespace(method=method, path="/", headers={}, query=query or {}, body=body,
                           log=logging.getLogger("test"))


class TestFunc(unittest.TestCase):
    def test_get_greets(self):
        self.assertEqual(main(context(query={"name": "Ada"})), "Hello from {{name}}, Ada!\n")

    def test_post_echoes_the_body(self):
        r = main(context(method="POST", body={"n": 1}))
        self.assertEqual(r["body"], {"received": {"n": 1}})


if __name__ == "__main__":
    unittest.main()
