"""Phoenix control-plane API (FastAPI) and the ``phoenix`` command line. No business logic here."""
