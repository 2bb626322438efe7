"""Shared test helpers: a throwaway PostgreSQL server, a launched app, a browser."""
