"""HTTP routers: thin adapters from requests to ``phoenix_core``."""
