"""The WHMCS importer: reads a WHMCS 8.x database (read-only) and brings its history over.

Entry point: `integrations.whmcs.importer.import_whmcs`; command: `manage.py import_whmcs`.
"""
