"""Reading measurements: the KPI catalog (``catalog``, ``catalog.yaml``), Prometheus' HTTP API
into pandas (``reader``, on prometheus-api-client), an experiment's KPIs over a window
(``measurement``, ``derived``)."""
