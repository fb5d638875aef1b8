"""Analysis: DataFrames in, DataFrames or typed results out, no I/O (import-linter checks it).

A notebook can import it and run it on data of its own; the controller and the API feed it
measurements read elsewhere (``phoenix_core.metrics``).
"""
