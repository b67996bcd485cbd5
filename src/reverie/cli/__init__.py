"""The ``reverie`` command line: inspect, fill and serve a memory store."""
