"""The local QIX-compatible engine, backed by DuckDB."""
