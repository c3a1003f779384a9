"""meterline's assets: raw usage and price catalog in, dbt models, serving marts out."""
