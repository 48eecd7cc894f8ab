"""Request and response schemas, one module per resource. Every schema has a name in the OpenAPI document.

Amounts are strings with the currency's decimals ("20.00", "1500" for JPY), never floats.
"""
