"""Step agents by name: what a workflow step's ``"agent"`` resolves to.

A step agent is a coroutine function ``async def fn(input: dict, ctx: StepContext) -> Any``:
it gets the step's input (templates already resolved) and a :class:`StepContext` that says who
the run acts for and which run and step this is, and returns the step's output (JSON-able
values, or bytes). Agents reach the hub only through ``ctx.service`` with ``ctx.caller``, so the
hub's tenant and access checks apply to every step exactly as to any other client.

The built-in ``data-loader`` and ``artifact-saver`` (:mod:`artifact_hub.workflow_steps.agents`)
are registered on :data:`default_registry`. Register your own with the decorator::

    from artifact_hub.workflow_steps import StepContext, default_registry

    @default_registry.agent("word-count")
    async def word_count(input: dict[str, Any], ctx: StepContext) -> dict[str, int]:
        text = input["data"]
        return {"words": len(text.split())}

Use :meth:`AgentRegistry.copy` for a registry of your own that starts with the built-ins but
does not change the default one (tests, one-off runs).

Lineage: a step that loads an artifact calls :meth:`StepContext.record_load`; a step that saves
one asks :meth:`StepContext.upstream_loads` for what the steps it depends on (transitively)
loaded, and records those as the new artifact's inputs.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from artifact_hub.core.errors import UnknownAgentError

if TYPE_CHECKING:
    from artifact_hub.schemas.identity import Caller
    from artifact_hub.service.artifacts import ArtifactService

__all__ = [
    "AgentFn",
    "AgentRegistry",
    "LoadLog",
    "LoadRecord",
    "StepContext",
    "default_registry",
    "import_agents",
]


@dataclass(frozen=True)
class LoadRecord:
    """One artifact version a step read."""

    step_id: str
    artifact_id: str
    version: int


class LoadLog:
    """The artifacts each step of one run loaded, shared by all the run's steps.

    Args:
        depends_on: Each step's direct dependencies (``step id -> ids``), so that
            :meth:`upstream_of` can answer for steps whose context does not list them.
    """

    def __init__(self, depends_on: Mapping[str, Iterable[str]] | None = None) -> None:
        self._records: dict[LoadRecord, None] = {}  # insertion-ordered set
        self._depends_on = {k: tuple(v) for k, v in (depends_on or {}).items()}
        # Steps run as tasks on one loop, but a remote adapter may record from a callback.
        self._lock = threading.Lock()

    def record(self, step_id: str, artifact_id: str, version: int) -> None:
        """Remember that ``step_id`` loaded ``artifact_id`` at ``version`` (once)."""
        entry = LoadRecord(step_id, artifact_id, version)
        with self._lock:
            self._records.setdefault(entry, None)

    def records(self) -> list[LoadRecord]:
        """Every load of the run, in the order recorded."""
        with self._lock:
            return list(self._records)

    def upstream_of(self, step_id: str) -> frozenset[str]:
        """The steps ``step_id`` depends on, directly or through others."""
        seen: set[str] = set()
        stack = list(self._depends_on.get(step_id, ()))
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(self._depends_on.get(current, ()))
        return frozenset(seen)

    def loads_of(self, steps: Iterable[str]) -> list[tuple[str, int]]:
        """The ``(artifact_id, version)`` pairs loaded by ``steps``, unique, in load order."""
        wanted = set(steps)
        found: dict[tuple[str, int], None] = {}
        for entry in self.records():
            if entry.step_id in wanted:
                found[(entry.artifact_id, entry.version)] = None
        return list(found)


@dataclass
class StepContext:
    """What a step agent knows about the run it is part of.

    Attributes:
        service: The hub's use cases; every call passes ``caller``.
        caller: Who the run acts for. Agents never widen it: the service checks the tenant
            and access lists on every call.
        run_id: The run; artifacts saved by the step are recorded under it.
        workflow_id: The workflow's id.
        step_id: This step's id.
        attempt: 1 for the first try, 2 for the first retry, ...
        loads: The run's load log (shared by all its steps).
        upstream: The ids of the steps this one depends on, transitively. None: ask
            ``loads`` (which knows the workflow's ``depends_on`` when the runner gave it).
        session_id: The session the run files artifacts under when a step names none.
        work_dir: The folder ``data-loader`` writes local files below (``as: path``); None:
            a folder per run under the system's temporary directory.
    """

    service: ArtifactService
    caller: Caller
    run_id: str
    workflow_id: str
    step_id: str
    attempt: int = 1
    loads: LoadLog = field(default_factory=LoadLog)
    upstream: frozenset[str] | None = None
    session_id: str | None = None
    work_dir: Path | None = None

    def record_load(self, artifact_id: str, version: int) -> None:
        """Record that this step read ``artifact_id`` at ``version`` (for lineage)."""
        self.loads.record(self.step_id, artifact_id, version)

    def upstream_loads(self) -> list[tuple[str, int]]:
        """The ``(artifact_id, version)`` pairs loaded by this step's transitive upstream steps."""
        steps = self.upstream if self.upstream is not None else self.loads.upstream_of(self.step_id)
        return self.loads.loads_of(steps)


AgentFn = Callable[[dict[str, Any], StepContext], Awaitable[Any]]
"""A step agent: the step's resolved input and its context in, the step's output out."""

F = TypeVar("F", bound=AgentFn)


class AgentRegistry:
    """Step agents by name.

    Example:
        >>> registry = AgentRegistry()
        >>> @registry.agent("echo")
        ... async def echo(input: dict[str, Any], ctx: StepContext) -> Any:
        ...     return input
        >>> sorted(registry.names())
        ['echo']
    """

    def __init__(self, agents: Mapping[str, AgentFn] | None = None) -> None:
        self._agents: dict[str, AgentFn] = dict(agents or {})

    def agent(self, name: str) -> Callable[[F], F]:
        """Decorator: register the decorated coroutine function as the agent ``name``.

        Registering a name again replaces the previous agent (the last one wins).
        """
        if not name or not name.strip():
            raise ValueError("an agent needs a non-empty name")

        def register(fn: F) -> F:
            self._agents[name] = fn
            return fn

        return register

    def register(self, name: str, fn: AgentFn) -> None:
        """Register ``fn`` as the agent ``name`` (the decorator's plain form)."""
        self.agent(name)(fn)

    def get(self, name: str) -> AgentFn:
        """The agent registered as ``name``.

        Raises:
            UnknownAgentError: No agent has that name (code ``unknown_agent``).
        """
        try:
            return self._agents[name]
        except KeyError:
            known = ", ".join(sorted(self._agents)) or "none"
            raise UnknownAgentError(
                f"no step agent named {name!r} (known: {known})", agent=name
            ) from None

    def names(self) -> set[str]:
        """The registered names."""
        return set(self._agents)

    def __contains__(self, name: object) -> bool:
        return name in self._agents

    def copy(self) -> AgentRegistry:
        """A new registry with the same agents; registering on it leaves this one alone."""
        return AgentRegistry(self._agents)


default_registry = AgentRegistry()
"""The registry the runner and the step service use unless given another one."""


def import_agents(spec: str) -> None:
    """Import a module that registers agents: a dotted name, or the path of a ``.py`` file.

    A dotted module is imported once per process (Python's import cache); a file is run on
    every call.

    This is how ``artifact-hub steps --agents ...`` and the workflow runner's CLI load agents
    of your own; the module registers them on :data:`default_registry` when imported.

    Raises:
        ImportError: The module cannot be found or fails to import.
    """
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        path = Path(spec).resolve()
        # Each call runs the file again (registering again is harmless: the last one wins).
        name = f"artifact_hub_agents_{path.stem}_{abs(hash(str(path))):x}"
        loader = importlib.util.spec_from_file_location(name, path)
        if loader is None or loader.loader is None or not path.is_file():
            raise ImportError(f"no Python file at {spec}")
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        try:
            loader.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return
    importlib.import_module(spec)
