"""Failures told to people: alerts to a webhook (and, next, tickets)."""
