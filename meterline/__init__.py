"""meterline, the library: what a run does (ingest, price, check, publish, export), with no Dagster.

The Dagster layer (the orchestration package) and the page (the dashboard package) sit on top of it.
"""
