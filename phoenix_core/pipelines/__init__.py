"""Pipelines: their language (``ir``: the steps; ``selectors``: PromQL series selectors;
``regex``: RE2 checks), templates, the forecast simulator and the collector compilers.

The language modules are light (import-linter checks it); the rest is control-plane code that
imports pandas where needed.
"""
