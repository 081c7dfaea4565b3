"""Billing storage: the only billing modules that import piccolo and billing.tables."""
