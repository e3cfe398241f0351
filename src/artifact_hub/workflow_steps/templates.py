"""``<< input.x >>`` and ``<< steps.<id>.output... >>`` templates, resolved in a sandbox.

A step's input may hold templates in any string, at any depth of its dicts and lists. A string
that is exactly one expression (``"<< steps.load.output.data >>"``) resolves to the value
itself with its native type (list, dict, int, bytes, ...); any other string renders to a
string. ``{{ }}`` is the Coordination Hub's syntax and is left alone, unless the resolver plays
the hub (``hub_syntax=True``, what :class:`~artifact_hub.workflow_steps.runner.Runner` does),
in which case it is resolved the same way and in the same sandbox.

What a template may do is deliberately small, because workflow files come from users:

* Names: only ``input`` and ``steps`` (plus the ``range`` and ``dict`` helpers). ``self``,
  ``config``, ``lipsum``, ``cycler``, ``namespace``, ... do not exist.
* Values: the context is converted to plain data first (str, int, float, bool, None, bytes,
  lists and dicts; pydantic models and dataclasses become dicts). No object of anyone's class
  ever reaches the sandbox, so no template can run its code.
* Attributes: dict keys (``output.data`` reads the key ``data``), and a short list of
  non-mutating, non-amplifying methods of str, bytes, dict, list and tuple. Nothing starting
  with ``_``; no ``format``/``format_map``; ``%`` formatting of strings is refused.
* Statements (``<% %>`` here, ``{% %}`` in hub syntax): none; no ``import``, ``include``,
  ``extends``, ``set`` or loops.
* Size: ``*``, ``**``, ``+``, ``~``, ``range`` and ``join`` are checked before they build
  anything; every result is held to ``max_size`` (1 MiB by default) except a value passed
  through unchanged from the context (``<< steps.load.output.data >>``).
* Filters: a list of pure ones (``length``, ``upper``, ``join``, ``map``, ``tojson``, ...).

Everything refused raises :class:`~artifact_hub.core.errors.TemplateError` naming the step, the
field and the expression, before any of the step's code runs.

This module resolves; the parts it stands on are apart, so the security boundary can be read
alone: ``template_policy`` (every allow-list and limit), ``template_data`` (the context made
plain data, size estimates), ``template_sandbox`` (the jinja2 sandbox enforcing the policy)
and ``template_parsing`` (node checks and ``steps.<id>`` references before anything runs).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any, NoReturn

from jinja2 import TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.exceptions import TemplateError as JinjaTemplateError

from artifact_hub.core.errors import TemplateError
from artifact_hub.workflow_steps.template_data import _estimate, _is_undefined, to_template_data
from artifact_hub.workflow_steps.template_parsing import (
    _ConcatToFilter,
    _Expression,
    _expression_texts,
    _is_path,
    _Parsed,
    _Refused,
    _walk,
)
from artifact_hub.workflow_steps.template_policy import _LAZY, DEFAULT_MAX_RANGE, DEFAULT_MAX_SIZE
from artifact_hub.workflow_steps.template_sandbox import _Sandbox

__all__ = [
    "DEFAULT_MAX_RANGE",
    "DEFAULT_MAX_SIZE",
    "TemplateResolver",
    "to_template_data",
]


class TemplateResolver:
    """Resolves the templates of a step's input against ``input`` and ``steps``.

    Args:
        hub_syntax: Also resolve ``{{ }}`` (the Coordination Hub's syntax); leave it as text
            when False, as the step agents do when a hub calls them.
        max_size: Bytes any result may take (serialized, roughly), except a value passed
            through unchanged from the context.
        max_range: Items ``range()`` may produce.

    Example:
        >>> r = TemplateResolver()
        >>> r.resolve({"n": "<< input.n >>", "s": "n=<< input.n >>"}, {"input": {"n": 3}},
        ...           step_id="demo")
        {'n': 3, 's': 'n=3'}
    """

    def __init__(
        self,
        *,
        hub_syntax: bool = False,
        max_size: int = DEFAULT_MAX_SIZE,
        max_range: int = DEFAULT_MAX_RANGE,
    ) -> None:
        self.hub_syntax = hub_syntax
        self.max_size = max_size
        limits = {"max_size": max_size, "max_range": max_range}
        # Block and comment delimiters that plain text does not contain by accident; any
        # block found is refused anyway (statements are not allowed).
        self._ours = _Sandbox(
            variable_start_string="<<",
            variable_end_string=">>",
            block_start_string="<%",
            block_end_string="%>",
            comment_start_string="<#",
            comment_end_string="#>",
            **limits,
        )
        self._hubs = _Sandbox(**limits)
        self._parse = lru_cache(maxsize=4096)(self._parse_uncached)

    # Public API -----------------------------------------------------------------------

    def resolve(self, value: Any, context: Mapping[str, Any], *, step_id: str) -> Any:
        """``value`` with every template resolved (dicts and lists walked).

        Args:
            value: A step's input (or any part of it).
            context: ``{"input": {...}, "steps": {id: {"output": ...}}}``; converted to
                plain data first (see :func:`to_template_data`).
            step_id: The step, for error messages.

        Raises:
            TemplateError: A template is refused or fails; names the step and expression.
        """
        try:
            data = to_template_data(dict(context), where="context")
        except TypeError as error:
            raise TemplateError(
                f"step {step_id!r}: {error}", step_id=step_id, expression=None
            ) from None
        return self.resolve_data(value, data, step_id=step_id)

    def resolve_data(self, value: Any, context: dict[str, Any], *, step_id: str) -> Any:
        """:meth:`resolve` for a context already made of plain data (the runner's)."""
        return self._resolve(value, context, step_id, "input")

    def references(self, value: Any, *, step_id: str) -> set[str]:
        """The step ids the templates in ``value`` refer to (``steps.<id>``).

        Also checks every template (syntax, names, attributes, filters), so a workflow can
        be refused before it runs.

        Raises:
            TemplateError: A template is refused; names the step and expression.
        """
        found: set[str] = set()
        for where, text in _strings(value, "input"):
            if not self._has_template(text):
                continue
            parsed = self._parsed(text, step_id, where)
            for part in parsed.parts:
                if isinstance(part, _Expression):
                    found |= part.steps
        return found

    # Resolution -----------------------------------------------------------------------

    def _resolve(self, value: Any, context: dict[str, Any], step_id: str, where: str) -> Any:
        kind = type(value)
        if kind is str:
            return self._resolve_string(value, context, step_id, where)
        if kind is dict:
            return {k: self._resolve(v, context, step_id, f"{where}.{k}") for k, v in value.items()}
        if kind is list or kind is tuple:
            return [
                self._resolve(v, context, step_id, f"{where}[{i}]") for i, v in enumerate(value)
            ]
        return value

    def _resolve_string(self, text: str, context: dict[str, Any], step_id: str, where: str) -> Any:
        if not self._has_template(text):
            return text
        parsed = self._parsed(text, step_id, where)
        whole = parsed.whole
        if whole is not None:
            return self._evaluate(whole, context, step_id, where, native=True)
        pieces: list[str] = []
        size = 0
        for part in parsed.parts:
            if isinstance(part, str):
                piece = part
            else:
                piece = self._evaluate(part, context, step_id, where, native=False)
            size += len(piece)
            if size > self.max_size:
                self._fail(step_id, where, text, f"the result exceeds {self.max_size} bytes")
            pieces.append(piece)
        return "".join(pieces)

    def _evaluate(
        self, expr: _Expression, context: dict[str, Any], step_id: str, where: str, *,
        native: bool,
    ) -> Any:  # fmt: skip
        env = expr.template.environment
        assert isinstance(env, _Sandbox)
        try:
            ctx = expr.template.new_context(context)
            for _ in expr.template.root_render_func(ctx):
                pass
            result = ctx.vars["result"]
            if native:
                return self._native(result, passthrough=expr.passthrough)
            return env._string(_materialize(result))
        except _Refused as error:
            self._fail(step_id, where, expr.source, str(error))
        except SecurityError as error:
            self._fail(step_id, where, expr.source, f"refused by the sandbox: {error}")
        except JinjaTemplateError as error:  # UndefinedError and friends
            self._fail(step_id, where, expr.source, error.message or type(error).__name__)
        except RecursionError:
            self._fail(step_id, where, expr.source, "too deeply nested")
        except (ArithmeticError, TypeError, ValueError, LookupError, MemoryError) as error:
            self._fail(step_id, where, expr.source, f"{type(error).__name__}: {error}")

    def _native(self, value: Any, *, passthrough: bool) -> Any:
        value = _materialize(value)
        if not passthrough and _estimate(value, self.max_size) > self.max_size:
            raise _Refused(f"the result exceeds {self.max_size} bytes", "")
        try:
            # A fresh copy: the agent may change its input without touching upstream outputs.
            return to_template_data(value, where="result")
        except TypeError as error:
            raise _Refused(str(error), "") from None

    def _fail(self, step_id: str, where: str, expression: str, reason: str) -> NoReturn:
        shown = expression if len(expression) <= 200 else expression[:197] + "..."
        raise TemplateError(
            f"step {step_id!r}, {where}: {reason} in {shown!r}",
            step_id=step_id,
            expression=expression,
            field=where,
        )

    # Parsing --------------------------------------------------------------------------

    def _has_template(self, text: str) -> bool:
        return "<<" in text or "<%" in text or (self.hub_syntax and ("{{" in text or "{%" in text))

    def _parsed(self, text: str, step_id: str, where: str) -> _Parsed:
        try:
            return self._parse(text)
        except _Refused as error:
            self._fail(step_id, where, error.expression or text, str(error))

    def _parse_uncached(self, text: str) -> _Parsed:
        parts: list[str | _Expression] = []
        for part in self._split(self._ours, text):
            if isinstance(part, str) and self.hub_syntax and ("{{" in part or "{%" in part):
                parts.extend(self._split(self._hubs, part))
            else:
                parts.append(part)
        return _Parsed(tuple(parts))

    def _split(self, env: _Sandbox, text: str) -> list[str | _Expression]:
        try:
            tree = env.parse(text)
            sources = _expression_texts(env, text)
        except TemplateSyntaxError as error:
            raise _Refused(f"template syntax error: {error.message}", text) from None
        except RecursionError:
            raise _Refused("too deeply nested", text) from None
        parts: list[str | _Expression] = []
        exprs = iter(sources)
        for statement in tree.body:
            if not isinstance(statement, nodes.Output):
                name = type(statement).__name__.lower()
                raise _Refused(f"statements ({name}) are not allowed in templates", text)
            for node in statement.nodes:
                if isinstance(node, nodes.TemplateData):
                    parts.append(node.data)
                else:
                    source = next(exprs, text)
                    parts.append(self._compile(env, node, source))
        return parts

    def _compile(self, env: _Sandbox, node: nodes.Expr, source: str) -> _Expression:
        refs: set[str] = set()
        try:
            _walk(node, None, 0, refs)
        except ValueError as error:
            raise _Refused(str(error), source) from None
        except RecursionError:
            raise _Refused("too deeply nested", source) from None
        passthrough = _is_path(node)
        checked = _ConcatToFilter().visit(node)
        body = [nodes.Assign(nodes.Name("result", "store"), checked, lineno=1)]
        tree = nodes.Template(body, lineno=1)
        tree.set_environment(env)
        try:
            template = env.from_string(tree)
        except (TemplateSyntaxError, RecursionError, SyntaxError, MemoryError) as error:
            raise _Refused(f"cannot compile: {type(error).__name__}", source) from None
        return _Expression(source, template, passthrough, frozenset(refs))


def _materialize(value: Any) -> Any:
    """Undefined results fail; generators and dict views (from filters) become lists."""
    if _is_undefined(value):
        value._fail_with_undefined_error()
    if type(value) in _LAZY:
        out = []
        for item in value:
            out.append(_materialize(item))
            if len(out) > DEFAULT_MAX_RANGE * 10:
                raise _Refused("the result has too many items", "")
        return out
    if type(value) is list or type(value) is tuple:
        return [_materialize(v) for v in value]
    if type(value) is dict:
        return {k: _materialize(v) for k, v in value.items()}
    return value


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string in ``value`` with its path (``input.a[0].b``)."""
    kind = type(value)
    if kind is str:
        yield where, value
    elif kind is dict:
        for k, v in value.items():
            yield from _strings(v, f"{where}.{k}")
    elif kind is list or kind is tuple:
        for i, v in enumerate(value):
            yield from _strings(v, f"{where}[{i}]")
