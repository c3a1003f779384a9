"""meterline's Dagster code: definitions, assets, resources, schedules, sensors and CLI."""
