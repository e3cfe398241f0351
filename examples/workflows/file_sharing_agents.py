"""The ``processor`` agent of ``file_sharing.json`` (the file-sharing guide's workflow).

The guide leaves ``processor`` to the user; this one summarises what ``data-loader`` loaded:
for a JSON list of records it counts them and sums their numeric fields, for anything else it
reports the type and size. Importing the module registers it::

    import examples.workflows.file_sharing_agents  # noqa: F401  (registers "processor")

or run it with ``artifact-hub steps --agents examples/workflows/file_sharing_agents.py``.
"""

from __future__ import annotations

from typing import Any

from artifact_hub.workflow_steps import AgentRegistry, StepContext, default_registry


async def processor(step_input: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    """Summarise ``step_input["data"]``: record count and per-field sums of numbers."""
    data = step_input.get("data")
    records = data.get("records") if isinstance(data, dict) else data
    if isinstance(records, list) and all(isinstance(r, dict) for r in records):
        totals: dict[str, float] = {}
        for record in records:
            for key, value in record.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    totals[key] = totals.get(key, 0) + value
        return {"records": len(records), "totals": totals, "processed_by": ctx.step_id}
    size = len(data) if isinstance(data, str | bytes | list | dict) else None
    return {"type": type(data).__name__, "size": size, "processed_by": ctx.step_id}


def register(registry: AgentRegistry = default_registry) -> AgentRegistry:
    """Register ``processor`` on ``registry`` (the default one unless given)."""
    registry.register("processor", processor)
    return registry


register()
