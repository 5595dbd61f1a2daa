"""A loopback simulator of the gong API, and the demo accounts it serves."""
