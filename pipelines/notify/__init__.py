"""Outgoing webhooks to the application: outbox, endpoints, signing, delivery."""
