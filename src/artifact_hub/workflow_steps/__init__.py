"""Coordination Hub step agents (``data-loader``, ``artifact-saver``): not built yet (issue 5)."""
