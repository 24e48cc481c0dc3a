"""Building params arrays from Python calls."""

from __future__ import annotations

import pytest

from rxqix._protocol.params import build_params
from rxqix.errors import INVALID_ARGUMENTS, InvalidArgumentsError
from rxqix.schemas import bundled_schema

schema = bundled_schema()
OPEN_DOC = schema.method("Global", "OpenDoc")
GET_OBJECT = schema.method("Doc", "GetObject")
SELECT_VALUES = schema.method("Field", "SelectValues")
CREATE_SESSION_OBJECT = schema.method("Doc", "CreateSessionObject")


def test_positional_args_fill_trailing_optionals_with_defaults():
    """Omitted optional params are sent with the schema defaults."""
    assert build_params(OPEN_DOC, ["app"], {}) == ["app", "", "", "", False]


def test_keywords_take_qix_or_python_names():
    """qNoData and no_data both name the same parameter."""
    by_qix = build_params(OPEN_DOC, ["app"], {"qNoData": True})
    by_py = build_params(OPEN_DOC, [], {"doc_name": "app", "no_data": True})
    assert by_qix == by_py == ["app", "", "", "", True]


def test_a_single_dict_of_param_names_is_named_mode():
    """enigma.js's named form: get_object({"qId": "x"})."""
    assert build_params(GET_OBJECT, [{"qId": "x"}], {}) == ["x"]


def test_a_struct_argument_stays_positional():
    """A properties dict whose keys are not param names is one positional arg."""
    prop = {"qInfo": {"qType": "chart"}}
    assert build_params(CREATE_SESSION_OBJECT, [prop], {}) == [prop]


def test_falsy_values_are_sent_as_given():
    """False, 0 and "" are values, not a request for the default."""
    assert build_params(OPEN_DOC, ["app", "", "", "", False], {})[4] is False
    assert build_params(SELECT_VALUES, [[], False], {}) == [[], False, False]


def test_defaults_are_fresh_copies():
    """Mutating a filled default never changes the schema's sample."""
    first = build_params(
        schema.method("GenericObject", "GetHyperCubeData"), ["/q"], {"qPages": []}
    )
    assert first == ["/q", []]
    a = build_params(SELECT_VALUES, [], {"qFieldValues": [{"qText": "x"}]})
    assert a[0] == [{"qText": "x"}]


@pytest.mark.parametrize(
    ("args", "kwargs", "pattern"),
    [
        (
            ["a", "b", "c", "d", False, "extra"],
            {},
            r"^open_doc\(\) takes 5 arguments, got 6$",
        ),
        ([], {"nope": 1}, r"^open_doc\(\) got an unexpected argument 'nope'$"),
        (
            ["app"],
            {"doc_name": "x"},
            r"^open_doc\(\) got more than one value for 'doc_name'$",
        ),
        ([], {}, r"^open_doc\(\) is missing required argument 'doc_name'$"),
    ],
)
def test_bad_arguments_raise_a_typed_error(args, kwargs, pattern):
    """Too many, unknown, repeated or missing arguments raise InvalidArgumentsError."""
    with pytest.raises(InvalidArgumentsError, match=pattern) as info:
        build_params(OPEN_DOC, args, kwargs)
    assert info.value.code == INVALID_ARGUMENTS
    assert isinstance(info.value, TypeError)


def test_an_empty_dict_is_a_value_when_a_param_is_required():
    """create_session_object({}) sends {} as qProp; for all-optional params {} means defaults."""
    assert build_params(CREATE_SESSION_OBJECT, [{}], {}) == [{}]
    clear_all = schema.method("Doc", "ClearAll")
    assert build_params(clear_all, [{}], {}) == [False, ""]
