"""The control store: connections with their encrypted credentials, API keys."""
