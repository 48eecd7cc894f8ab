"""Billing state changes, one module per business process (invoices, payments, credit, ...)."""
