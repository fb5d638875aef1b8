"""Pipelines: templates, the forecast simulator and the collector compilers.

Control-plane code (imports pandas where needed); agents use only ``phoenix_core.pipelines.ir``.
"""
