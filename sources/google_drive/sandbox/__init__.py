"""A loopback simulator of the google_drive API, and the demo accounts it serves."""
