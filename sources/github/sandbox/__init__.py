"""A loopback simulator of the github API, and the demo accounts it serves."""
