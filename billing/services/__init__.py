"""Billing use cases, each taking the request's principal."""
