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

Everything refused raises :class:`~artifact_hub.errors.TemplateError` naming the step, the
field and the expression, before any of the step's code runs.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from pathlib import PurePath
from typing import Any, NoReturn
from uuid import UUID

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.environment import Template
from jinja2.exceptions import SecurityError
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.tests import TESTS as DEFAULT_TESTS
from jinja2.visitor import NodeTransformer
from pydantic import BaseModel

from artifact_hub.errors import TemplateError

__all__ = [
    "DEFAULT_MAX_RANGE",
    "DEFAULT_MAX_SIZE",
    "TemplateResolver",
    "to_template_data",
]

DEFAULT_MAX_SIZE = 1024 * 1024
DEFAULT_MAX_RANGE = 10_000
#: Nesting of an expression's syntax tree (and of data walked) beyond which we refuse.
MAX_EXPRESSION_DEPTH = 40
MAX_DATA_DEPTH = 200
#: Integers a template computes stay below this many bits (2 ** 10 ** 10 is refused).
MAX_INT_BITS = 4096

_NAMES = frozenset({"input", "steps", "range", "dict"})

# Methods a template may call, per exact type: none mutates, none builds more than its input.
_STR_METHODS = frozenset(
    {
        "capitalize", "casefold", "count", "encode", "endswith", "find", "index", "isalnum",
        "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric",
        "isspace", "istitle", "isupper", "lower", "lstrip", "partition", "removeprefix",
        "removesuffix", "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split",
        "splitlines", "startswith", "strip", "swapcase", "title", "upper",
    }
)  # fmt: skip
_BYTES_METHODS = frozenset(
    {
        "count", "decode", "endswith", "find", "hex", "index", "isascii", "lower", "lstrip",
        "rfind", "rindex", "rsplit", "rstrip", "split", "startswith", "strip", "upper",
    }
)  # fmt: skip
_METHODS: dict[type, frozenset[str]] = {
    str: _STR_METHODS,
    bytes: _BYTES_METHODS,
    dict: frozenset({"get", "keys", "values", "items"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    int: frozenset({"bit_length"}),
    float: frozenset({"is_integer"}),
    bool: frozenset(),
    type(None): frozenset(),
}
_SCALARS = (str, bytes, int, float, bool, type(None))
_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))
# Lazy results of allowed filters (map, select, reverse, ...): materialised into lists.
_LAZY: tuple[type, ...] = (
    types.GeneratorType, range, type(reversed([])), type(reversed(())), type(iter([])),
    type(iter(())), type(iter({})), type(iter("")), *_VIEWS,
)  # fmt: skip

_FILTERS = frozenset(
    {
        "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "first", "float",
        "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
        "reject", "rejectattr", "reverse", "round", "select", "selectattr", "sort", "string",
        "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "wordcount",
    }
)  # fmt: skip

_ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Name, nodes.Const, nodes.Getattr, nodes.Getitem, nodes.Slice, nodes.Filter,
    nodes.Test, nodes.Call, nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair, nodes.Keyword,
    nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Neg,
    nodes.Pos, nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod,
    nodes.Pow, nodes.Concat,
)  # fmt: skip


# ----------------------------------------------------------------------------------- data


class _NotData(Exception):
    """A value that is not template data, with where it was found."""


def to_template_data(value: Any, *, where: str = "value") -> Any:
    """``value`` as plain data: str, int, float, bool, None, bytes, lists and dicts.

    Pydantic models and dataclasses become dicts, tuples and sets lists, datetimes ISO
    strings, UUIDs, paths and decimals strings, enums their value. The result shares nothing
    mutable with ``value``. Only exact types are trusted: subclasses of str or dict are
    copied through the base type's own methods, so their overrides never run.

    Raises:
        TypeError: Something else (an object of another class, a recursive structure, or
            nesting deeper than 200 levels); the message says where.
    """
    try:
        return _data(value, where, set(), 0)
    except _NotData as error:
        raise TypeError(str(error)) from None


def _data(value: Any, where: str, active: set[int], depth: int) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if depth > MAX_DATA_DEPTH:
        raise _NotData(f"{where}: nested deeper than {MAX_DATA_DEPTH} levels")
    if kind is dict or kind is list or kind is tuple:
        marker = id(value)
        if marker in active:
            raise _NotData(f"{where}: a recursive structure")
        active.add(marker)
        try:
            if kind is dict:
                return {
                    _key(k, where): _data(v, f"{where}.{k}", active, depth + 1)
                    for k, v in dict.items(value)
                }
            return [_data(v, f"{where}[{i}]", active, depth + 1) for i, v in enumerate(value)]
        finally:
            active.discard(marker)
    # Subclasses of the builtins: go through the base type so their overrides never run.
    if issubclass(kind, Enum):
        return _data(value.value, where, active, depth + 1)
    if issubclass(kind, str):
        return str.__str__(value)
    if issubclass(kind, int):
        return int.__index__(value)
    if issubclass(kind, float):
        return float.__float__(value)
    if issubclass(kind, bytes | bytearray | memoryview):
        return bytes(memoryview(value))
    if issubclass(kind, dict):
        return _data(dict(dict.items(value)), where, active, depth)
    if issubclass(kind, list | tuple | set | frozenset) or kind in _VIEWS:
        items = list.copy(value) if issubclass(kind, list) else list(value)
        return _data(items, where, active, depth)
    # Type checks only (issubclass on type(value)): isinstance() may ask the object itself.
    if issubclass(kind, BaseModel):
        return _data(value.model_dump(mode="python"), where, active, depth + 1)
    if dataclasses.is_dataclass(kind) and not issubclass(kind, type):
        return _data(dataclasses.asdict(value), where, active, depth + 1)
    if issubclass(kind, datetime | date | time):
        return value.isoformat()
    if issubclass(kind, UUID | PurePath | Decimal):
        return str(value)
    raise _NotData(f"{where}: a value of type {kind.__name__} is not template data")


def _key(key: Any, where: str) -> Any:
    if type(key) in _SCALARS and type(key) is not bytes:
        return key
    if issubclass(type(key), str):
        return str.__str__(key)
    raise _NotData(f"{where}: a dict key of type {type(key).__name__}")


def _is_undefined(value: Any) -> bool:
    return issubclass(type(value), Undefined)


def _checked(env: _Sandbox, value: Any, obj: Any, name: Any) -> Any:
    """``value`` read from ``obj``, unless it is not data (defence in depth: see resolve())."""
    if type(value) in _METHODS:
        return value
    return env.unsafe_undefined(obj, str(name))


def _estimate(value: Any, budget: int) -> int:
    """The size of ``value`` serialized (roughly, in bytes); stops counting past ``budget``."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bytes:
            total += len(item) + 2
        elif kind is int:
            total += item.bit_length() // 3 + 1
        elif kind is float or kind is bool or item is None:
            total += 8
        elif kind is dict:
            total += 2
            for k, v in item.items():
                stack.append(k)
                stack.append(v)
        elif kind is list or kind is tuple or kind in _VIEWS:
            total += 2 + len(item)
            stack.extend(item)
        else:
            total += 8
        if total > budget:
            return total
    return total


# -------------------------------------------------------------------------------- sandbox


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox narrowed to data: see the module docstring for the rules."""

    intercepted_binops = frozenset({"+", "*", "**", "%", "//", "/", "-"})

    def __init__(self, *, max_size: int, max_range: int, **options: Any) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            **options,
        )
        self.max_size = max_size
        self.max_range = max_range
        # One bound method, so call() can recognise it by identity.
        self._safe_range = self._range
        self.globals.clear()
        self.globals.update(range=self._safe_range, dict=dict)
        self.filters = {name: DEFAULT_FILTERS[name] for name in _FILTERS}
        self.filters.update(
            join=self._join,
            sum=_sum,
            tojson=self._tojson,
            string=self._string,
            _concat=self._concat,
        )
        self.tests = dict(DEFAULT_TESTS)

    # Names and attributes --------------------------------------------------------------

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return attr in _METHODS.get(type(obj), frozenset())

    def getattr(self, obj: Any, attribute: str) -> Any:
        if _is_undefined(obj):
            if attribute.startswith("_"):  # its class and methods are no way out either
                return self.unsafe_undefined(obj, attribute)
            return getattr(obj, attribute)  # StrictUndefined raises the undefined error
        kind = type(obj)
        # JSON data first: ``output.items`` is the key "items", not dict.items.
        if kind is dict and attribute in obj:
            return _checked(self, obj[attribute], obj, attribute)
        allowed = _METHODS.get(kind)
        if allowed is None:
            return self.unsafe_undefined(obj, attribute)
        if attribute in allowed:
            return getattr(obj, attribute)
        if attribute.startswith("_") or hasattr(obj, attribute):
            return self.unsafe_undefined(obj, attribute)
        return self.undefined(obj=obj, name=attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if _is_undefined(obj):
            return obj[argument]
        kind = type(obj)
        if kind is dict:
            try:
                return _checked(self, obj[argument], obj, argument)
            except (KeyError, TypeError):
                return self.undefined(obj=obj, name=argument)
        if kind in (list, tuple, str, bytes) and type(argument) in (int, slice):
            try:
                return _checked(self, obj[argument], obj, argument)
            except (IndexError, TypeError, ValueError):
                return self.undefined(obj=obj, name=argument)
        if type(argument) is str:
            return self.getattr(obj, argument)
        if kind not in _METHODS:
            return self.unsafe_undefined(obj, repr(argument))
        return self.undefined(obj=obj, name=argument)

    # Calls and operators ---------------------------------------------------------------

    def is_safe_callable(self, obj: Any) -> bool:
        if obj is self._safe_range or obj is dict:
            return True
        if type(obj) is not types.BuiltinMethodType:
            return False
        owner = obj.__self__
        return obj.__name__ in _METHODS.get(type(owner), frozenset())

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # The double underscores follow jinja's own signature (keyword arguments pass through).
        if _is_undefined(__obj):
            __obj._fail_with_undefined_error()  # says which attribute was missing or unsafe
        if not __self.is_safe_callable(__obj):
            # Only the type's name: reading the object's own attributes could run its code.
            name = type(__obj).__name__
            if type(__obj) is types.BuiltinMethodType:
                name = __obj.__name__
            raise SecurityError(f"calling {name!r} is not allowed in templates")
        return __context.call(__obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self._check_binop(operator, left, right)
        return self.binop_table[operator](left, right)

    def _check_binop(self, operator: str, left: Any, right: Any) -> None:
        for operand in (left, right):
            if _is_undefined(operand):
                operand._fail_with_undefined_error()
            if type(operand) not in _METHODS and type(operand) not in _VIEWS:
                raise SecurityError(f"{type(operand).__name__!r} is not template data")
        ints = type(left) in (int, bool) and type(right) in (int, bool)
        if operator == "%" and type(left) in (str, bytes):
            raise SecurityError("%-formatting of strings is not allowed in templates")
        if operator == "**" and ints and right > 0:
            bits = abs(left).bit_length() * right
            if bits > MAX_INT_BITS:
                raise SecurityError(f"the power is too large (over {MAX_INT_BITS} bits)")
        if operator == "*":
            if ints:
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise SecurityError(f"the product is too large (over {MAX_INT_BITS} bits)")
                return
            count, seq = (right, left) if type(right) in (int, bool) else (left, right)
            if type(count) in (int, bool) and count > 0:
                self._check_size(_estimate(seq, self.max_size) * count, "a repetition")
        if operator == "+" and not ints:
            size = _estimate(left, self.max_size) + _estimate(right, self.max_size)
            self._check_size(size, "a concatenation")

    def _check_size(self, size: int, what: str) -> None:
        if size > self.max_size:
            raise SecurityError(f"{what} would exceed the {self.max_size}-byte template limit")

    def _range(self, *args: int) -> range:
        for arg in args:
            if type(arg) not in (int, bool):
                raise SecurityError("range() takes integers")
        rng = range(*args)
        try:
            size = len(rng)
        except OverflowError:
            size = self.max_range + 1
        if size > self.max_range:
            raise SecurityError(f"range() of {size} items exceeds the limit of {self.max_range}")
        return rng

    # Filters with a size check ---------------------------------------------------------

    def _join(self, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
        items = list(value)
        if attribute is not None:
            from jinja2.filters import make_attrgetter

            getter = make_attrgetter(self, attribute)
            items = [getter(i) for i in items]
        if type(d) is not str:
            raise SecurityError("join takes a string separator")
        size = _estimate(items, self.max_size) + len(d) * max(len(items) - 1, 0)
        self._check_size(size, "join")
        return d.join(self._string(i) for i in items)

    def _string(self, value: Any) -> str:
        if _is_undefined(value):
            value._fail_with_undefined_error()
        if type(value) is str:
            return value
        if type(value) not in _METHODS:  # a method, a view: nothing a user should see printed
            raise SecurityError(f"a {type(value).__name__} cannot be rendered into a string")
        self._check_size(_estimate(value, self.max_size), "a string")
        return str(value)

    def _concat(self, values: list[Any]) -> str:
        parts = [self._string(v) for v in values]
        self._check_size(sum(len(p) for p in parts), "a ~ concatenation")
        return "".join(parts)

    def _tojson(self, value: Any, indent: int | None = None) -> str:
        if indent is not None and (type(indent) is not int or not 0 <= indent <= 16):
            raise SecurityError("tojson takes an indent from 0 to 16")
        self._check_size(_estimate(value, self.max_size) * (2 if indent else 1), "tojson")
        try:
            return json.dumps(_jsonable(value), indent=indent, ensure_ascii=False)
        except (TypeError, ValueError) as error:
            raise SecurityError(f"tojson: {error}") from None


def _sum(values: Iterable[Any], attribute: Any = None, start: int | float = 0) -> int | float:
    # Numbers only: summing lists or strings is quadratic and amplifies.
    total: int | float = start if type(start) in (int, float) else 0
    for item in values:
        if type(item) not in (int, float, bool):
            raise SecurityError("sum adds numbers only")
        total += item
    return total


def _jsonable(value: Any) -> Any:
    if _is_undefined(value):
        value._fail_with_undefined_error()
    if type(value) is bytes:
        raise TypeError("bytes are not JSON")
    if type(value) is dict:
        return {k: _jsonable(v) for k, v in value.items()}
    if type(value) in (list, tuple) or type(value) in _VIEWS:
        return [_jsonable(v) for v in value]
    return value


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
