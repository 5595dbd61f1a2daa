"""The kit every sandbox is built on: server, routing, faults, admin endpoints."""
