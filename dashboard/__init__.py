"""The cost analysis page: a Streamlit app over the published serving DuckDB file (``meterline dashboard``)."""
