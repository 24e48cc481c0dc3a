"""rxqix.sense.build_url against the real enigma.js SenseUtilities.buildUrl."""

from __future__ import annotations

import copy
import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from rxqix import errors
from rxqix.sense import FIELDS, _js_number_string, _js_truthy, build_url

PEERS = Path(__file__).resolve().parent / "peers"
BUILD_URL_JS = PEERS / "build_url.js"

NAN = math.nan
INF = math.inf

# Keys enigma.js ignores and rxqix rejects; they go to node only.
JS_ONLY_KEYS = {"unsecure", "reloadURI"}

SNAKE = {"appId": "app_id", "noData": "no_data", "urlParams": "url_params"}


class Row(NamedTuple):
    """One buildUrl input (enigma.js key spelling) and, if known, its URL."""

    id: str
    config: dict[str, Any]
    expected: str | None = None


RELOAD = {"reloadUri": "http://qlik.com"}
TICKET = {"qlikTicket": "abcdefg123456"}
RELOAD_TICKET = {"reloadUri": "http://qlik.com", "qlikTicket": "abcdefg123456"}
QS_RELOAD = "reloadUri=http%3A%2F%2Fqlik.com"
QS_RELOAD_TICKET = QS_RELOAD + "&qlikTicket=abcdefg123456"

ROWS: list[Row] = [
    # enigma.js's own sense-utilities tests.
    Row("spec-defaults", {}, "wss://localhost/app/engineData"),
    Row("spec-unsecure-false", {"unsecure": False}, "wss://localhost/app/engineData"),
    Row(
        "spec-secure-and-unsecure",
        {"secure": True, "unsecure": True},
        "wss://localhost/app/engineData",
    ),
    Row("spec-secure", {"secure": True}, "wss://localhost/app/engineData"),
    Row("spec-app", {"secure": True, "appId": "myApp1"}, "wss://localhost/app/myApp1"),
    Row(
        "spec-port",
        {"secure": True, "port": 666, "appId": "myApp3"},
        "wss://localhost:666/app/myApp3",
    ),
    Row(
        "spec-host",
        {"secure": True, "host": "foo.com", "appId": "myApp3"},
        "wss://foo.com/app/myApp3",
    ),
    Row(
        "spec-unsecure-host",
        {"secure": False, "host": "foo.com", "appId": "myApp3"},
        "ws://foo.com/app/myApp3",
    ),
    Row(
        "spec-route",
        {"secure": True, "port": 666, "route": "myroute"},
        "wss://localhost:666/myroute",
    ),
    Row(
        "spec-route-leading-slash",
        {"secure": True, "port": 666, "route": "/myroute"},
        "wss://localhost:666/myroute",
    ),
    Row(
        "spec-route-trailing-slash",
        {"secure": True, "port": 666, "route": "myroute/"},
        "wss://localhost:666/myroute",
    ),
    Row(
        "spec-route-inner-slash",
        {"secure": True, "port": 666, "route": "/my/route/"},
        "wss://localhost:666/my/route",
    ),
    Row(
        "spec-prefix",
        {"secure": True, "port": 4848, "prefix": "/myproxy/", "appId": "myApp4"},
        "wss://localhost:4848/myproxy/app/myApp4",
    ),
    Row(
        "spec-prefix-url-params",
        {
            "secure": True,
            "port": 4848,
            "prefix": "/myproxy/",
            "urlParams": RELOAD,
            "appId": "myApp6",
        },
        "wss://localhost:4848/myproxy/app/myApp6?" + QS_RELOAD,
    ),
    Row(
        "spec-identity",
        {
            "secure": True,
            "port": 4848,
            "prefix": "/myproxy/",
            "urlParams": RELOAD,
            "identity": "migration-service",
            "appId": "myApp7",
        },
        "wss://localhost:4848/myproxy/app/myApp7/identity/migration-service?"
        + QS_RELOAD,
    ),
    Row(
        "spec-subpath",
        {
            "secure": True,
            "port": 4848,
            "prefix": "/myproxy/",
            "subpath": "dataprepservice",
            "appId": "myApp8",
        },
        "wss://localhost:4848/myproxy/dataprepservice/app/myApp8",
    ),
    Row(
        "spec-ticket",
        {"secure": True, "port": 4848, "urlParams": TICKET, "appId": "myApp9"},
        "wss://localhost:4848/app/myApp9?qlikTicket=abcdefg123456",
    ),
    Row(
        "spec-two-params",
        {"secure": True, "port": 4848, "urlParams": RELOAD_TICKET, "appId": "myApp10"},
        "wss://localhost:4848/app/myApp10?" + QS_RELOAD_TICKET,
    ),
    Row(
        "spec-reload-uri-ignored",
        {
            "secure": True,
            "port": 4848,
            "reloadURI": "http://community.qlik.com",
            "urlParams": RELOAD_TICKET,
            "appId": "myApp11",
        },
        "wss://localhost:4848/app/myApp11?" + QS_RELOAD_TICKET,
    ),
    Row(
        "spec-ttl",
        {
            "secure": True,
            "port": 4848,
            "reloadURI": "http://community.qlik.com",
            "urlParams": RELOAD_TICKET,
            "appId": "myApp11",
            "ttl": 1000,
        },
        "wss://localhost:4848/app/myApp11/ttl/1000?" + QS_RELOAD_TICKET,
    ),
    # The extra cases of the behaviour reference.
    Row("prefix-slash", {"prefix": "/"}, "wss://localhost//app/engineData"),
    Row(
        "app-id-encoded",
        {"appId": "my app/ü?"},
        "wss://localhost/app/my%20app%2F%C3%BC%3F",
    ),
    Row("route-beats-app-id", {"appId": "x", "route": "r"}, "wss://localhost/r"),
    Row("url-params-empty", {"urlParams": {}}, "wss://localhost/app/engineData?"),
    Row(
        "url-params-mixed",
        {"urlParams": {"a": [1, 2], "b": True, "c": None, "e": "x y"}},
        "wss://localhost/app/engineData?a=1&a=2&b=true&c=&e=x%20y",
    ),
    Row("port-0-ttl-0", {"port": 0, "ttl": 0}, "wss://localhost/app/engineData"),
    Row("secure-0", {"secure": 0}, "ws://localhost/app/engineData"),
    Row("host-empty", {"host": ""}, "wss://localhost/app/engineData"),
    Row(
        "identity-encoded",
        {"identity": "a b/c"},
        "wss://localhost/app/engineData/identity/a%20b%2Fc",
    ),
    Row("subpath-slashes", {"subpath": "//s//"}, "wss://localhost/s/app/engineData"),
    Row("no-data", {"noData": True, "appId": "x"}, "wss://localhost/app/x"),
    # App ids and identities.
    Row("app-id-unicode", {"appId": "Ärger 売上 📊"}),
    Row(
        "app-id-safe-chars",
        {"appId": "AZaz09-_.!~*'()"},
        "wss://localhost/app/AZaz09-_.!~*'()",
    ),
    Row("app-id-reserved-chars", {"appId": "a+b&c=d#e%f;g,h:i@j$k[l]"}),
    Row("app-id-guid", {"appId": "4d1a2a2b-2e0c-4a5f-9d8e-1f2b3c4d5e6f"}),
    Row("app-id-path", {"appId": "C:\\Users\\me\\Documents\\Qlik\\Sense\\Apps\\x.qvf"}),
    Row("app-id-empty", {"appId": ""}, "wss://localhost/app/engineData"),
    Row("app-id-none", {"appId": None}, "wss://localhost/app/engineData"),
    Row("identity-slashes", {"appId": "a", "identity": "team/alice/dev"}),
    Row("identity-unicode", {"identity": "müller 🙂"}),
    Row("identity-empty", {"identity": ""}, "wss://localhost/app/engineData"),
    # Prefix, subpath and route.
    Row("prefix-nested", {"prefix": "/a/b/c/", "appId": "x"}),
    Row("prefix-deep-slashes", {"prefix": "///deep//path///"}),
    Row("prefix-empty", {"prefix": ""}, "wss://localhost/app/engineData"),
    Row("prefix-space", {"prefix": "my proxy"}),
    Row("prefix-newline", {"prefix": "p/\n"}),
    Row("subpath-nested", {"subpath": "x/y", "appId": "z"}),
    Row("route-nested", {"route": "/a//b/"}, "wss://localhost/a//b"),
    Row("route-only-slash", {"route": "/"}, "wss://localhost/"),
    Row("route-space-unicode", {"route": "my route/ü"}),
    Row("route-empty-app-id", {"route": "", "appId": "x"}, "wss://localhost/app/x"),
    Row(
        "route-app-id-identity",
        {"route": "hub", "appId": "x", "identity": "i"},
        "wss://localhost/hub/identity/i",
    ),
    Row(
        "everything",
        {
            "secure": False,
            "host": "sense.example.com",
            "port": 4848,
            "prefix": "/vp/",
            "subpath": "/sub/",
            "appId": "app 1",
            "identity": "id 2",
            "ttl": 30,
            "noData": True,
            "urlParams": {"qlikTicket": "t", "x": [1, "two"]},
        },
        "ws://sense.example.com:4848/vp/sub/app/app%201/identity/id%202/ttl/30"
        "?qlikTicket=t&x=1&x=two",
    ),
    # url_params.
    Row("params-string-array", {"urlParams": {"a": ["x", "y z", ""]}}),
    Row("params-empty-array-dropped", {"urlParams": {"a": [], "b": 1}}),
    Row("params-only-empty-array", {"urlParams": {"a": []}}),
    Row("params-booleans", {"urlParams": {"t": True, "f": False, "l": [True, False]}}),
    Row("params-none", {"urlParams": {"n": None, "m": [None, None]}}),
    Row(
        "params-numbers",
        {
            "urlParams": {
                "zero": 0,
                "neg": -1,
                "half": 1.5,
                "big": 1e21,
                "big2": 123456789012345678901.0,
                "tiny": 1e-7,
                "small": 0.000001,
                "sum": 0.1 + 0.2,
                "third": 1 / 3,
                "neg-exp": -2.5e-12,
                "max": 1.7976931348623157e308,
                "min": 5e-324,
            }
        },
    ),
    Row("params-integral-floats", {"urlParams": {"a": 3.0, "b": -0.0, "c": 1e20}}),
    Row("params-int-past-2-53", {"urlParams": {"a": 2**53 + 1, "b": 10**22}}),
    Row("params-int-overflow", {"urlParams": {"a": 10**400, "b": -(10**400)}}),
    Row("params-non-finite", {"urlParams": {"nan": NAN, "inf": INF, "ninf": -INF}}),
    Row("params-array-non-finite", {"urlParams": {"a": [NAN, 1, INF]}}),
    Row("params-unicode", {"urlParams": {"ключ": "значение", "emoji": "📊✓"}}),
    Row("params-special", {"urlParams": {"a&b=c": "&=?#/+ %", "q": "!~*'()-_."}}),
    Row(
        "params-index-key-order",
        {"urlParams": {"b": 1, "10": 2, "2": 3, "01": 4, "a": 5}},
    ),
    Row(
        "params-huge-index-key",
        {"urlParams": {"z": 1, "4294967295": 2, "4294967294": 3}},
    ),
    Row("params-empty-key", {"urlParams": {"": "x", "y": ""}}),
    Row("params-mixed-array", {"urlParams": {"a": [1, True, None, "x", 2.5]}}),
    Row("params-none-top", {"urlParams": None}, "wss://localhost/app/engineData"),
    # Ports, ttl and secure.
    Row("port-0", {"port": 0, "appId": "x"}, "wss://localhost/app/x"),
    Row("port-max", {"port": 65535}, "wss://localhost:65535/app/engineData"),
    Row("port-none", {"port": None}, "wss://localhost/app/engineData"),
    Row("ttl-0", {"ttl": 0, "appId": "x"}, "wss://localhost/app/x"),
    Row("ttl-float", {"ttl": 1.5}, "wss://localhost/app/engineData/ttl/1.5"),
    Row("ttl-integral-float", {"ttl": 60.0}, "wss://localhost/app/engineData/ttl/60"),
    Row("ttl-nan", {"ttl": NAN}, "wss://localhost/app/engineData"),
    Row("ttl-big", {"ttl": 1e21}, "wss://localhost/app/engineData/ttl/1e+21"),
    Row("ttl-none", {"ttl": None}, "wss://localhost/app/engineData"),
    Row("secure-false", {"secure": False}, "ws://localhost/app/engineData"),
    Row("secure-none", {"secure": None}, "ws://localhost/app/engineData"),
    Row("secure-0.0", {"secure": 0.0}, "ws://localhost/app/engineData"),
    Row("secure-nan", {"secure": NAN}, "ws://localhost/app/engineData"),
    Row("secure-1", {"secure": 1}, "wss://localhost/app/engineData"),
    Row(
        "host-none", {"host": None, "port": 9076}, "wss://localhost:9076/app/engineData"
    ),
    Row("host-ip", {"host": "127.0.0.1", "port": 9076, "secure": False}),
    Row("no-data-false", {"noData": False, "appId": "x"}, "wss://localhost/app/x"),
]


def python_config(config: dict[str, Any]) -> dict[str, Any]:
    """Return ``config`` without the keys only enigma.js accepts."""
    return {key: value for key, value in config.items() if key not in JS_ONLY_KEYS}


def snake_fields(config: dict[str, Any]) -> dict[str, Any]:
    """Return ``config`` with Python field names, for keyword arguments."""
    return {SNAKE.get(key, key): value for key, value in python_config(config).items()}


def to_json(value: Any) -> Any:
    """Return ``value`` with NaN and infinities as build_url.js's markers."""
    if isinstance(value, float) and not math.isfinite(value):
        return {
            "$number": "NaN"
            if math.isnan(value)
            else str(value).replace("inf", "Infinity")
        }
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    return value


def enigma_urls(rows: list[Row]) -> list[Any]:
    """Run the real enigma.js buildUrl once on every row's config."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the enigma.js peer needs Node.js")
    configs = json.dumps([to_json(row.config) for row in rows], allow_nan=False)
    done = subprocess.run(
        [node, str(BUILD_URL_JS)],
        input=configs,
        cwd=PEERS,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    urls: list[Any] = json.loads(done.stdout)
    assert len(urls) == len(rows)
    return urls


def test_the_table_is_big_and_its_ids_unique() -> None:
    assert len(ROWS) >= 40
    assert len({row.id for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize(
    "row", [row for row in ROWS if row.expected], ids=lambda row: row.id
)
def test_documented_urls(row: Row) -> None:
    assert build_url(python_config(row.config)) == row.expected
    assert build_url(**snake_fields(row.config)) == row.expected


@pytest.mark.peer
def test_every_row_matches_enigma_js(enigma_package: Path) -> None:
    """rxqix builds the URL enigma.js builds, for every row of the table."""
    urls = enigma_urls(ROWS)
    mismatches = []
    for row, url in zip(ROWS, urls, strict=True):
        camel = build_url(python_config(row.config))
        snake = build_url(**snake_fields(row.config))
        if not (camel == snake == url) or (row.expected and url != row.expected):
            mismatches.append((row.id, url, camel, snake, row.expected))
    assert mismatches == []


@pytest.mark.parametrize("key", sorted(JS_ONLY_KEYS))
def test_keys_enigma_ignores_are_rejected(key: str) -> None:
    with pytest.raises(errors.ConfigurationError) as raised:
        build_url({"appId": "x", key: True})
    assert raised.value.field == key
    assert key in str(raised.value)


def test_an_unknown_key_is_a_typed_error_with_a_hint() -> None:
    with pytest.raises(errors.ConfigurationError) as raised:
        build_url({"appid": "x"})
    error = raised.value
    assert isinstance(error, errors.EnigmaError)
    assert isinstance(error, ValueError)
    assert error.code == errors.NO_CONFIG_SUPPLIED
    assert error.field == "appid"
    assert "'appId'" in error.message
    with pytest.raises(errors.ConfigurationError) as raised:
        build_url(hots="h")
    assert raised.value.field == "hots"


def test_a_non_string_key_is_rejected() -> None:
    with pytest.raises(errors.ConfigurationError):
        build_url({1: "x"})  # type: ignore[dict-item]


def test_a_field_in_both_spellings_is_rejected() -> None:
    with pytest.raises(errors.ConfigurationError) as raised:
        build_url({"appId": "a", "app_id": "b"})
    assert raised.value.field == "app_id"
    with pytest.raises(errors.ConfigurationError):
        build_url(url_params={}, urlParams={})


def test_keywords_replace_config_fields() -> None:
    config = {"appId": "a", "host": "h", "urlParams": {"x": 1}}
    assert build_url(config, app_id="b") == "wss://h/app/b?x=1"
    assert build_url(config, host=None) == "wss://localhost/app/a?x=1"
    assert build_url(config, url_params=None) == "wss://h/app/a"


def test_snake_and_camel_keys_mix_in_one_config() -> None:
    config = {"app_id": "a", "urlParams": {"k": "v"}, "no_data": True}
    assert build_url(config) == "wss://localhost/app/a?k=v"


def test_config_must_be_a_mapping() -> None:
    with pytest.raises(errors.ConfigurationError) as raised:
        build_url([("appId", "x")])  # type: ignore[arg-type]
    assert raised.value.field == "config"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"port": "abc"}, "port"),
        ({"port": "4848"}, "port"),
        ({"port": 4848.0}, "port"),
        ({"port": True}, "port"),
        ({"port": -1}, "port"),
        ({"port": 65536}, "port"),
        ({"ttl": "10"}, "ttl"),
        ({"ttl": True}, "ttl"),
        ({"ttl": [1]}, "ttl"),
        ({"host": 5}, "host"),
        ({"appId": 123}, "appId"),
        ({"app_id": b"x"}, "app_id"),
        ({"prefix": ["a"]}, "prefix"),
        ({"subpath": 1}, "subpath"),
        ({"route": {}}, "route"),
        ({"identity": 7}, "identity"),
        ({"secure": "false"}, "secure"),
        ({"secure": []}, "secure"),
        ({"noData": "yes"}, "noData"),
        ({"urlParams": [("a", 1)]}, "urlParams"),
        ({"url_params": "a=1"}, "url_params"),
        ({"urlParams": {"a": {"b": 1}}}, "urlParams"),
        ({"urlParams": {"a": [[1]]}}, "urlParams"),
        ({"urlParams": {"a": object()}}, "urlParams"),
        ({"urlParams": {1: "a"}}, "urlParams"),
        ({"appId": "\ud800"}, "appId"),
        ({"identity": "x\udfff"}, "identity"),
        ({"urlParams": {"a": "\ud83d"}}, "urlParams"),
    ],
    ids=repr,
)
def test_wrong_values_are_typed_errors(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(errors.ConfigurationError) as raised:
        build_url(fields)
    assert raised.value.field == field
    assert raised.value.code == errors.NO_CONFIG_SUPPLIED
    assert field in raised.value.message


def test_wrong_values_are_reported_even_when_falsy_or_unused() -> None:
    # enigma.js would skip these; a wrong type is still a mistake.
    with pytest.raises(errors.ConfigurationError):
        build_url(app_id="x", route="r", identity=0)
    with pytest.raises(errors.ConfigurationError):
        build_url(route="r", app_id=0)


def test_the_callers_config_is_not_changed() -> None:
    config: dict[str, Any] = {
        "appId": "x",
        "urlParams": {"a": [1, 2], "b": None},
        "prefix": "/p/",
    }
    before = copy.deepcopy(config)
    build_url(config)
    build_url(config, secure=False)
    assert config == before
    assert not {"secure", "host", "route", "noData"} & set(config)
    empty: dict[str, Any] = {}
    build_url(empty)
    assert empty == {}


def test_tuples_are_arrays() -> None:
    assert build_url(url_params={"a": (1, "b")}) == (
        "wss://localhost/app/engineData?a=1&a=b"
    )


def test_secure_missing_is_true_but_none_is_false() -> None:
    assert build_url().startswith("wss://")
    assert build_url(secure=None).startswith("ws://")


def test_every_field_has_both_spellings_where_they_differ() -> None:
    assert set(FIELDS.values()) == {
        "app_id",
        "no_data",
        "secure",
        "host",
        "port",
        "prefix",
        "subpath",
        "route",
        "identity",
        "url_params",
        "ttl",
    }
    assert {key for key, name in FIELDS.items() if key != name} == set(SNAKE)


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        ({}, True),
        ([], True),
        ((), True),
        ("0", True),
        (" ", True),
        (-1, True),
        (0.5, True),
        (INF, True),
        (True, True),
        (object(), True),
        (0, False),
        (0.0, False),
        (-0.0, False),
        ("", False),
        (None, False),
        (False, False),
        (NAN, False),
    ],
    ids=repr,
)
def test_js_truthy(value: Any, truthy: bool) -> None:
    assert _js_truthy(value) is truthy


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-7.0, "-7"),
        (1.5, "1.5"),
        (100.0, "100"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e22, "1.5e+22"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (1.25e-7, "1.25e-7"),
        (0.1 + 0.2, "0.30000000000000004"),
        (123.456, "123.456"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (NAN, "NaN"),
        (INF, "Infinity"),
        (-INF, "-Infinity"),
    ],
    ids=repr,
)
def test_js_number_string(number: float, text: str) -> None:
    assert _js_number_string(number) == text
