"""A loopback simulator of the hubspot API, and the demo accounts it serves."""
