"""The package version, in core so that every layer (the SDK included) can read it.

``artifact_hub.__version__`` re-exports it; importing it from here instead of from the
package root keeps ``artifact_hub.client`` from importing ``artifact_hub`` (an import cycle).
Keep it equal to ``[project] version`` in pyproject.toml (a static version: hatch does not
read this file).
"""

__version__ = "0.1.0"
