"""Parsing templates: expressions found, refused node types caught before anything runs.

Also collects the ``steps.<id>`` references a template makes.
"""

from __future__ import annotations

import dataclasses

from jinja2 import nodes
from jinja2.environment import Template
from jinja2.tests import TESTS as DEFAULT_TESTS
from jinja2.visitor import NodeTransformer

from artifact_hub.workflow_steps.template_policy import (
    _ALLOWED_NODES,
    _FILTERS,
    _NAMES,
    MAX_EXPRESSION_DEPTH,
)
from artifact_hub.workflow_steps.template_sandbox import _Sandbox

# -------------------------------------------------------------------------------- parsing


@dataclasses.dataclass(frozen=True)
class _Expression:
    """One ``<< >>`` (or ``{{ }}``) expression, checked and compiled."""

    source: str
    template: Template
    passthrough: bool  # a plain path into the context: size limits do not apply
    steps: frozenset[str]


@dataclasses.dataclass(frozen=True)
class _Parsed:
    parts: tuple[str | _Expression, ...]

    @property
    def whole(self) -> _Expression | None:
        if len(self.parts) == 1 and isinstance(self.parts[0], _Expression):
            return self.parts[0]
        return None


class _Refused(Exception):
    """A template refused while parsing or evaluating; the message says why."""

    def __init__(self, message: str, expression: str) -> None:
        super().__init__(message)
        self.expression = expression


def _walk(node: nodes.Node, parent: nodes.Node | None, depth: int, refs: set[str]) -> None:
    if depth > MAX_EXPRESSION_DEPTH:
        raise ValueError(f"the expression is nested deeper than {MAX_EXPRESSION_DEPTH} levels")
    if not isinstance(node, _ALLOWED_NODES):
        raise ValueError(f"{type(node).__name__.lower()} is not allowed in templates")
    if isinstance(node, nodes.Name):
        if node.ctx != "load" or node.name not in _NAMES:
            raise ValueError(f"unknown name {node.name!r} (templates see only 'input' and 'steps')")
        if node.name == "steps":
            refs.add(_step_ref(node, parent))
    elif isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        raise ValueError(f"attribute {node.attr!r} is not allowed in templates")
    elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        if isinstance(node.arg.value, str) and node.arg.value.startswith("_"):
            raise ValueError(f"key {node.arg.value!r} is not allowed in templates")
    elif isinstance(node, nodes.Filter) and node.name not in _FILTERS:
        raise ValueError(f"filter {node.name!r} is not allowed in templates")
    elif isinstance(node, nodes.Test) and node.name not in DEFAULT_TESTS:
        raise ValueError(f"test {node.name!r} does not exist")
    elif isinstance(node, nodes.Call) and not isinstance(node.node, nodes.Getattr | nodes.Name):
        raise ValueError("only methods and range()/dict() can be called in templates")
    for child in node.iter_child_nodes():
        _walk(child, node, depth + 1, refs)


def _step_ref(node: nodes.Name, parent: nodes.Node | None) -> str:
    if isinstance(parent, nodes.Getattr) and parent.node is node:
        return parent.attr
    if (
        isinstance(parent, nodes.Getitem)
        and parent.node is node
        and isinstance(parent.arg, nodes.Const)
        and isinstance(parent.arg.value, str)
    ):
        return parent.arg.value
    raise ValueError("'steps' must be followed by a step id written out (steps.<id>)")


def _is_path(node: nodes.Node) -> bool:
    while True:
        if isinstance(node, nodes.Name):
            return True
        if isinstance(node, nodes.Getattr) or (
            isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const)
        ):
            node = node.node
        else:
            return False


class _ConcatToFilter(NodeTransformer):
    """``a ~ b`` compiles to an unchecked join: route it through the size-checked filter."""

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        items = [self.visit(n) for n in node.nodes]
        return nodes.Filter(
            nodes.List(items, lineno=node.lineno), "_concat", [], [], None, None,
            lineno=node.lineno,
        )  # fmt: skip


def _expression_texts(env: _Sandbox, source: str) -> list[str]:
    """The source text of each expression of ``source``, in order, delimiters included."""
    texts: list[str] = []
    current: list[str] | None = None
    for _, token, value in env.lex(source):
        if token == "variable_begin":
            current = [value]
        elif current is not None:
            current.append(value)
            if token == "variable_end":
                texts.append("".join(current))
                current = None
    return texts
