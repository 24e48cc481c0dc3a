"""Test tools for rxqix users: a pytest plugin, a fake engine, marble helpers."""
