"""The template sandbox's policy, reviewable alone.

Every name, method, filter, node type and size limit a workflow template may use
(workflow_steps/templates.py explains why). Anything not listed here is refused. Widening a
list widens what user-written workflow files can do inside the hub: review changes here as
security changes.
"""

from __future__ import annotations

import types

from jinja2 import nodes

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
