"""phoenix-agent: the host daemon that runs collectors and load for Phoenix experiments.

Imports only the standard library, its base dependencies and ``phoenix_core.wire``.
"""
