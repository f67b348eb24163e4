"""Load generation: Locust, always in its own process (it gevent-patches the interpreter)."""
