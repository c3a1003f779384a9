"""meterline's data-quality checks, Great Expectations suites and reports."""
