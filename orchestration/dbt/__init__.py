"""The dbt models (groups staging, intermediate and marts) as Dagster assets, and their checks."""

# First: dagster-dbt is imported without dbt-core in this process (orchestration/internals.py).
import orchestration.internals  # noqa: F401
