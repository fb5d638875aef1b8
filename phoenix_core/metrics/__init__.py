"""Reading measurements: Prometheus' HTTP API into plain records and pandas."""
