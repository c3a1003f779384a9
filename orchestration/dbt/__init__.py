"""The dbt models (groups staging, intermediate and marts) as Dagster assets, and their checks."""
