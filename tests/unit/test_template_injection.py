"""Template injection and sandbox escapes: each attempt is refused and nothing runs.

Every entry of :data:`ATTACKS` is tried twice:

* straight on the resolver, against a context of mutable data that must come out unchanged;
* as the input of step ``evil`` of a workflow run by the real runner, whose agent counts its
  calls: the run is refused before any step starts, or ``evil`` fails with ``template_error``
  before its agent is called.

Then the positive side: native types, string rendering, hub syntax, size limits.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, cast

import pytest

from artifact_hub.core.errors import TemplateError
from artifact_hub.schemas import Caller
from artifact_hub.service.artifacts import ArtifactService
from artifact_hub.workflow_steps.registry import AgentRegistry, StepContext
from artifact_hub.workflow_steps.runner import Runner
from artifact_hub.workflow_steps.templates import TemplateResolver, to_template_data

# (id, template): each must be refused.
ATTACKS: list[tuple[str, str]] = [
    ("dunder-class", "<< input.__class__ >>"),
    ("mro-subclasses", "<< input.name.__class__.__mro__[1].__subclasses__() >>"),
    ("getitem-dunder", "<< input['__class__'] >>"),
    ("getitem-dynamic-dunder", "<< input.name[input.dunder] >>"),
    ("attr-filter", "<< input.name|attr('__class__') >>"),
    ("attr-filter-dynamic", "<< input.cfg|attr(input.dunder) >>"),
    ("map-attribute", "<< input.items|map(attribute='__class__')|list >>"),
    ("init-globals", "<< input.items.__init__.__globals__ >>"),
    ("method-self", "<< input.cfg.get.__self__ >>"),
    ("builtins", "<< input.cfg.get.__globals__['__builtins__'] >>"),
    ("func-globals", "<< input.name.upper.func_globals >>"),
    ("format-attr-walk", "<< '{0.__class__.__mro__}'.format(input.name) >>"),
    ("format-map", "<< '{x.__class__}'.format_map(input) >>"),
    ("format-width-bomb", "<< '{:>999999999}'.format(1) >>"),
    ("percent-format-object", "<< '%s' % input >>"),
    ("percent-format-width", "<< '%999999999d' % 1 >>"),
    ("huge-range", "<< range(10**9)|list >>"),
    ("huge-range-dynamic", "<< range(input.big) >>"),
    ("string-times", "<< 'a' * 10**9 >>"),
    ("list-times", "<< [1] * 10**9 >>"),
    ("runtime-times", "<< input.name * input.big >>"),
    ("power", "<< 2 ** 100000 >>"),
    ("power-chain", "<< 10 ** 10 ** 10 ** 10 ** 10 >>"),
    ("concat-bomb", "<< (input.half * 1) ~ input.half ~ input.half >>"),
    ("join-bomb", "<< range(10000)|map('string')|join(input.half) >>"),
    ("self", "<< self >>"),
    ("self-globals", "<< self.__init__.__globals__ >>"),
    ("config", "<< config.items() >>"),
    ("request", "<< request.environ >>"),
    ("lipsum", "<< lipsum.__globals__['os'] >>"),
    ("cycler", "<< cycler.__init__.__globals__.os.popen('id').read() >>"),
    ("joiner", "<< joiner() >>"),
    ("namespace", "<< namespace(a=1) >>"),
    ("loop", "<< loop.cycle >>"),
    ("list-append", "<< input.items.append(4) >>"),
    ("dict-update", "<< input.cfg.update(a=2) >>"),
    ("list-pop", "<< input.items.pop() >>"),
    ("dict-setdefault", "<< input.cfg.setdefault('b', 1) >>"),
    ("dict-clear-via-getitem", "<< input.cfg['clear']() >>"),
    ("block-import", "<% import 'os' as os %>"),
    ("block-include", "<% include '/etc/passwd' %>"),
    ("block-extends", "<% extends 'base.html' %>x"),
    ("block-for", "<% for i in range(3) %><< i >><% endfor %>"),
    ("block-set", "<% set x = input %><< x >>"),
    ("block-macro", "<% macro m() %>x<% endmacro %>"),
    ("hub-block-include", "{% include '/etc/passwd' %}"),
    ("hub-attr-walk", "{{ input.__class__.__base__ }}"),
    ("center-filter", "<< 'x'|center(999999999) >>"),
    ("format-filter", "<< '%s'|format(input) >>"),
    ("undefined", "<< input.nope >>"),
    ("undefined-in-list", "<< [input.nope] >>"),
    ("method-as-value", "<< input.name.upper >>"),
    ("method-in-string", "address: << input.cfg.get >>"),
    ("tojson-indent-bomb", "<< input.cfg|tojson(indent=999999999) >>"),
    ("join-separator-object", "<< input.items|map('string')|join(input.items) >>"),
    ("call-a-string", "<< input.name() >>"),
    ("undefined-attr-walk", "<< (input.nope|attr('__class__'))|attr('__init__') >>"),
    ("crlf-is-no-escape", "a\r\n<< input.__class__ >>"),
    ("dynamic-steps", "<< steps[input.name].output >>"),
    ("deep-nesting", "<< " + "(" * 500 + "1" + ")" * 500 + " >>"),
    ("deep-getattr", "<< input" + ".a" * 100 + " >>"),
    ("syntax-error", "<< input. >>"),
    ("call-dict-class", "<< dict.__class__ >>"),
    ("lambda-ish", "<< (input.items|map('attr', '__class__')|list) >>"),
    ("int-str-bomb", "<< (10 ** 4000) ~ '' >>"),
]

STEP = "evil"


class _Calls:
    def __init__(self) -> None:
        self.steps: list[str] = []


def _context() -> dict[str, Any]:
    return {
        "input": {
            "name": "alice",
            "items": [1, 2, 3],
            "cfg": {"a": 1},
            "big": 10**9,
            "dunder": "__class__",
            "half": "x" * 600_000,
        },
        "steps": {"first": {"output": {"rows": [1, 2]}}},
    }


def _runner(calls: _Calls) -> Runner:
    registry = AgentRegistry()

    @registry.agent("probe")
    async def probe(step_input: dict[str, Any], context: StepContext) -> dict[str, Any]:
        calls.steps.append(context.step_id)
        return {"rows": [1, 2]}

    def factory(**fields: Any) -> StepContext:
        return StepContext(
            service=cast(ArtifactService, None), caller=Caller(tenant_id="t"), **fields
        )

    return Runner(registry, context_factory=factory)


@pytest.mark.parametrize(("template"), [a[1] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_attack_is_refused_by_the_resolver(template: str) -> None:
    context = _context()
    before = copy.deepcopy(context)
    resolver = TemplateResolver(hub_syntax=True)
    with pytest.raises(TemplateError) as caught:
        resolver.resolve({"payload": template}, context, step_id=STEP)
    error = caught.value
    assert error.code == "template_error"
    assert error.step_id == STEP
    assert f"step {STEP!r}" in error.message
    assert error.expression and error.expression in template
    assert error.field == "input.payload"
    assert context == before  # nothing mutated


@pytest.mark.parametrize(("template"), [a[1] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
async def test_attack_in_a_workflow_runs_nothing(template: str) -> None:
    calls = _Calls()
    runner = _runner(calls)
    context = _context()
    workflow = {
        "id": "attack",
        "steps": [
            {"id": "first", "agent": "probe"},
            {"id": STEP, "agent": "probe", "depends_on": ["first"], "input": {"x": template}},
            {"id": "after", "agent": "probe", "depends_on": [STEP]},
        ],
    }
    try:
        report = await runner.run(workflow, context["input"])
    except TemplateError as error:  # refused before anything started
        assert error.step_id == STEP
        assert calls.steps == []
        return
    evil = report.steps[STEP]
    assert evil.status == "failed"
    assert evil.error is not None and evil.error.code == "template_error"
    assert STEP in evil.error.message
    assert report.steps["after"].status == "skipped"
    assert calls.steps == ["first"]  # the evil step's agent never ran
    assert report.status == "failed"


def test_the_corpus_is_large_and_distinct() -> None:
    assert len(ATTACKS) >= 30
    assert len({a[0] for a in ATTACKS}) == len(ATTACKS)
    assert len({a[1] for a in ATTACKS}) == len(ATTACKS)


class _Probe:
    """A foreign object that counts every hook a template could reach."""

    def __init__(self) -> None:
        self.touched = 0

    def _hit(self, *_: Any, **__: Any) -> Any:
        self.touched += 1
        return "boom"

    __str__ = __repr__ = __format__ = __call__ = __eq__ = __len__ = __iter__ = _hit  # type: ignore[assignment]
    __getitem__ = __add__ = __mul__ = __mod__ = __bool__ = __int__ = __index__ = _hit  # type: ignore[assignment]

    def __getattr__(self, name: str) -> Any:
        self.touched += 1
        return "boom"

    @property
    def secret(self) -> str:
        self.touched += 1
        return "boom"


PROBE_TEMPLATES = [
    "<< input.probe >>",
    "x << input.probe >>",
    "<< input.probe.secret >>",
    "<< input.probe() >>",
    "<< input.probe|string >>",
    "<< input.probe == 1 >>",
    "<< input.probe + 1 >>",
    "<< input.probe['k'] >>",
    "<< input.probe|length >>",
    "<< '%s' % input.probe >>",
]


@pytest.mark.parametrize("template", PROBE_TEMPLATES)
def test_foreign_objects_are_refused_at_the_boundary_untouched(template: str) -> None:
    probe = _Probe()
    with pytest.raises(TemplateError) as caught:
        TemplateResolver().resolve({"x": template}, {"input": {"probe": probe}}, step_id=STEP)
    assert "a value of type _Probe is not template data" in caught.value.message
    assert probe.touched == 0


@pytest.mark.parametrize("template", PROBE_TEMPLATES)
def test_foreign_objects_inside_the_sandbox_are_not_reached(template: str) -> None:
    # resolve_data() trusts its context to be data; even so the sandbox hands a foreign
    # object to nothing: reading it out of a dict or list gives an unsafe undefined.
    probe = _Probe()
    with pytest.raises(TemplateError):
        TemplateResolver().resolve_data({"x": template}, {"input": {"probe": probe}}, step_id=STEP)
    assert probe.touched == 0


def test_recursive_structures_are_refused() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(TemplateError, match="recursive structure"):
        TemplateResolver().resolve("<< input.loop >>", {"input": {"loop": loop}}, step_id=STEP)
    deep: Any = 1
    for _ in range(500):
        deep = [deep]
    with pytest.raises(TemplateError, match="nested deeper"):
        TemplateResolver().resolve("<< input.deep >>", {"input": {"deep": deep}}, step_id=STEP)


def test_the_error_names_the_expression_not_the_whole_string() -> None:
    with pytest.raises(TemplateError) as caught:
        TemplateResolver().resolve(
            "a << input.ok >> b << input.missing >> c",
            {"input": {"ok": 1}},
            step_id="s",
        )
    assert caught.value.expression == "<< input.missing >>"
    assert "'dict object' has no attribute 'missing'" in caught.value.message


# -------------------------------------------------------------------------------- positive

CTX: dict[str, Any] = {
    "input": {"artifact_id": "art_1", "n": 3, "tags": ["a", "b"], "blob": b"\x00\xff"},
    "steps": {
        "load": {"output": {"data": {"rows": [1, 2, 3]}, "items": "key wins", "n": 2.5}},
    },
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("<< input.n >>", 3),
        ("<< input.tags >>", ["a", "b"]),
        ("<< input.blob >>", b"\x00\xff"),
        ("<< steps.load.output.data >>", {"rows": [1, 2, 3]}),
        ("<< steps.load.output.n >>", 2.5),
        ("<< steps['load'].output.data.rows[1:] >>", [2, 3]),
        ("<< steps.load.output.items >>", "key wins"),
        ("<< input.n > 2 >>", True),
        ("<< none >>", None),
        ("<< input.tags|length >>", 2),
        ("<< input.tags|map('upper')|list >>", ["A", "B"]),
        ("<< input.tags|reverse >>", ["b", "a"]),
        ("<< range(3) >>", [0, 1, 2]),
        ("<< dict(a=input.n) >>", {"a": 3}),
        ("<< steps.load.output.data|tojson >>", '{"rows": [1, 2, 3]}'),
        ("<< input.tags|join('-') >>", "a-b"),
        ("<< input.artifact_id.upper() >>", "ART_1"),
        ("<< input.n * 2 + 1 >>", 7),
        ("<< [1, 2] * 2 >>", [1, 2, 1, 2]),
        ("<< input.missing|default('d') >>", "d"),
        ("processed-<< input.artifact_id >>.json", "processed-art_1.json"),
        ("n=<< input.n >>, tags=<< input.tags|join(',') >>", "n=3, tags=a,b"),
        ("<< input.n >> items", "3 items"),
        ("no templates here", "no templates here"),
        ("{{ input.n }} stays for the hub", "{{ input.n }} stays for the hub"),
        ("a < b > c", "a < b > c"),
    ],
)
def test_resolves_to_native_values_or_strings(template: str, expected: Any) -> None:
    result = TemplateResolver().resolve(template, CTX, step_id="s")
    assert result == expected
    assert type(result) is type(expected)


def test_an_unclosed_delimiter_is_a_syntax_error_not_text() -> None:
    with pytest.raises(TemplateError, match="syntax error"):
        TemplateResolver().resolve("a << b", CTX, step_id="s")
    assert TemplateResolver().resolve("a << '<<' >> b", CTX, step_id="s") == "a << b"


def test_dicts_and_lists_are_walked() -> None:
    value = {"a": ["<< input.n >>", {"b": "x<< input.n >>"}], "c": 5, "d": None}
    out = TemplateResolver().resolve(value, CTX, step_id="s")
    assert out == {"a": [3, {"b": "x3"}], "c": 5, "d": None}
    assert value["a"][0] == "<< input.n >>"  # the input is not changed in place


def test_hub_syntax_is_resolved_when_playing_the_hub() -> None:
    resolver = TemplateResolver(hub_syntax=True)
    assert resolver.resolve("{{ input.n }}", CTX, step_id="s") == 3
    assert resolver.resolve("{{ input.n }}-<< input.tags|length >>", CTX, step_id="s") == "3-2"


def test_resolved_values_never_resolve_again() -> None:
    # A value that *contains* template text is data: it is not evaluated a second time.
    ctx = {"input": {"evil": "<< input.__class__ >>", "hub": "{{ input.__class__ }}"}}
    resolver = TemplateResolver(hub_syntax=True)
    assert resolver.resolve("<< input.evil >>", ctx, step_id="s") == "<< input.__class__ >>"
    assert resolver.resolve("x {{ input.hub }}", ctx, step_id="s") == "x {{ input.__class__ }}"


def test_native_results_are_copies() -> None:
    ctx: dict[str, Any] = {"input": {"rows": [1, 2]}}
    data = to_template_data(ctx)
    out = TemplateResolver().resolve_data("<< input.rows >>", data, step_id="s")
    out.append(3)
    assert data["input"]["rows"] == [1, 2]


def test_size_limit_is_configurable_and_spares_pass_through_values() -> None:
    small = TemplateResolver(max_size=100)
    big = {"input": {"text": "y" * 1000}}
    assert small.resolve("<< input.text >>", big, step_id="s") == "y" * 1000  # unchanged value
    with pytest.raises(TemplateError, match="exceeds 100 bytes"):
        small.resolve("x << input.text >>", big, step_id="s")
    with pytest.raises(TemplateError, match="template limit"):
        small.resolve("<< 'y' * 200 >>", {}, step_id="s")
    assert TemplateResolver(max_range=5).resolve("<< range(5) >>", {}, step_id="s") == list(
        range(5)
    )
    with pytest.raises(TemplateError, match="limit of 5"):
        TemplateResolver(max_range=5).resolve("<< range(6) >>", {}, step_id="s")


def test_references_lists_step_ids() -> None:
    resolver = TemplateResolver(hub_syntax=True)
    value = {
        "a": "<< steps.load.output >>",
        "b": ["{{ steps['x-y'].output.z }}", "<< input.n >>"],
        "c": "<< steps.load.output.data ~ steps.other.output >>",
    }
    assert resolver.references(value, step_id="s") == {"load", "x-y", "other"}
    assert TemplateResolver().references({"b": "{{ steps.hub.output }}"}, step_id="s") == set()


def test_compiled_templates_are_cached() -> None:
    resolver = TemplateResolver()
    parse = cast(Callable[..., Any], resolver._parse)
    for n in range(3):
        assert resolver.resolve("<< input.n + 1 >>", {"input": {"n": n}}, step_id="s") == n + 1
    info = parse.cache_info()  # type: ignore[attr-defined]
    assert info.misses == 1 and info.hits == 2


def test_to_template_data_converts_models_and_refuses_objects() -> None:
    from datetime import UTC, datetime

    class Thing:
        pass

    caller = Caller(tenant_id="t", agent_id="a")
    data = to_template_data({"c": caller, "t": (1, 2), "when": datetime(2026, 1, 1, tzinfo=UTC)})
    assert data["c"]["tenant_id"] == "t" and data["t"] == [1, 2]
    assert data["when"] == "2026-01-01T00:00:00+00:00"
    with pytest.raises(TypeError, match=r"value\.x: a value of type Thing is not template data"):
        to_template_data({"x": Thing()})
