"""QGIS Processing glue: the provider, one module per algorithm, parameter parsing, styling.

Everything scientific runs out of process in the engine Python (see ``runner.py``).
"""
