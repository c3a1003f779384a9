"""meterline's Dagster layer: one Definitions, code per asset group, the runner and the CLI."""
