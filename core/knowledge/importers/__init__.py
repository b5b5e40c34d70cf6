"""Catalog importers: a shop platform's product CSV export -> catalog.yaml (format 2, §4)."""
