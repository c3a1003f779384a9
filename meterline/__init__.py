"""meterline's core library: what a run and an export do, in plain Python (no Dagster import)."""
