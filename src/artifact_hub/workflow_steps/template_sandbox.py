"""The jinja2 sandbox templates run in, checked against the policy (template_policy.py).

Attributes, methods, operators and filters are checked, and everything that could amplify
is held to a size limit.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterable
from typing import Any

from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.tests import TESTS as DEFAULT_TESTS

from artifact_hub.workflow_steps.template_data import _estimate, _is_undefined
from artifact_hub.workflow_steps.template_policy import _FILTERS, _METHODS, _VIEWS, MAX_INT_BITS

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


def _checked(env: _Sandbox, value: Any, obj: Any, name: Any) -> Any:
    """``value`` read from ``obj``, unless it is not data (defence in depth: see resolve())."""
    if type(value) in _METHODS:
        return value
    return env.unsafe_undefined(obj, str(name))
