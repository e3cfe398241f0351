"""The Python SDK (``Client``, ``AsyncClient``): not built yet (issue 3)."""
