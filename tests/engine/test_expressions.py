"""The expression parser, its vector evaluation, and number formatting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rxqix.engine import expressions as ex
from rxqix.engine.formatting import format_auto, format_number, wire_num


def test_parse_aggregation_with_or_without_equals() -> None:
    """A leading '=' is optional; function names are case-insensitive."""
    want = ex.Agg("sum", ex.FieldRef("Value"))
    assert ex.parse("=Sum(Value)") == want
    assert ex.parse("sum( Value )") == want
    assert ex.parse("SUM([Value])") == want


def test_parse_field_quoting() -> None:
    """Fields may be bare, [bracketed], "double" or `back` quoted."""
    assert ex.parse("[my field]") == ex.FieldRef("my field")
    assert ex.parse('"my field"') == ex.FieldRef("my field")
    assert ex.parse("`my field`") == ex.FieldRef("my field")
    assert ex.parse("[a]]b]") == ex.FieldRef("a]b")


def test_parse_count_distinct_and_total() -> None:
    """DISTINCT and TOTAL are qualifiers of the aggregation."""
    assert ex.parse("Count(DISTINCT carrier)") == ex.Agg(
        "count", ex.FieldRef("carrier"), distinct=True
    )
    assert ex.parse("count(total flight)") == ex.Agg(
        "count", ex.FieldRef("flight"), total=True
    )


def test_parse_precedence() -> None:
    """* binds tighter than +, & looser than +, unary minus folds literals."""
    node = ex.parse("1 + 2 * 3")
    assert node == ex.Binary("+", ex.Num(1), ex.Binary("*", ex.Num(2), ex.Num(3)))
    node = ex.parse("1 + 2 & 3")
    assert node == ex.Binary("&", ex.Binary("+", ex.Num(1), ex.Num(2)), ex.Num(3))
    assert ex.parse("-2") == ex.Num(-2)
    assert ex.parse("-(1)") == ex.Num(-1)
    assert ex.parse("-Sum(x)") == ex.Unary("-", ex.Agg("sum", ex.FieldRef("x")))


@pytest.mark.parametrize(
    "text",
    ["", "=", "Sum(", "Sum(x))", "1 +", "Foo(1)", "Sum(Sum(x))", "Sum({<a={1}>} x)"],
)
def test_parse_rejects_bad_expressions(text: str) -> None:
    """Syntax errors, unknown functions, nesting and set analysis fail."""
    with pytest.raises(ex.ExpressionError):
        ex.parse(text)


def test_lift_fields_wraps_bare_fields_in_only() -> None:
    """A bare field outside an aggregation means Only(field)."""
    node = ex.lift_fields(ex.parse("x + Sum(y)"))
    assert node == ex.Binary(
        "+", ex.Agg("only", ex.FieldRef("x")), ex.Agg("sum", ex.FieldRef("y"))
    )
    assert ex.aggregations(node) == [
        ex.Agg("only", ex.FieldRef("x")),
        ex.Agg("sum", ex.FieldRef("y")),
    ]


def test_to_sql_guards_division() -> None:
    """Row-level arithmetic becomes SQL; division by zero gives NULL."""
    sql = ex.to_sql(ex.parse("(a - b) / c"), lambda name: f"v_{name}")
    assert sql == "((v_a - v_b) / NULLIF(v_c, 0))"
    with pytest.raises(ex.ExpressionError):
        ex.to_sql(ex.parse("If(a, 1, 2)"), str)


def evaluate(text: str, **aggs: list[float]) -> ex.Column:
    """Evaluate ``text`` with named aggregations given as columns."""
    node = ex.lift_fields(ex.parse(text))
    values = {
        agg: ex.Column(np.asarray(aggs[agg.arg.name], dtype=float))
        for agg in ex.aggregations(node)
        if isinstance(agg.arg, ex.FieldRef)
    }
    size = len(next(iter(aggs.values()))) if aggs else 1
    return ex.evaluate(node, values, size)


def test_evaluate_arithmetic_and_null() -> None:
    """Arithmetic is vectorised; division by zero and NULLs propagate as NULL."""
    result = evaluate("Sum(a) / Sum(b) * 2", a=[1, 2, 3], b=[2, 0, math.nan])
    assert result.nums[0] == 1
    assert np.isnan(result.nums[1:]).all()
    assert result.is_null().tolist() == [False, True, True]


def test_evaluate_logic_and_if() -> None:
    """Comparisons give -1/0; If picks per row."""
    result = evaluate("If(Sum(a) > 1, 10, 20)", a=[1, 2])
    assert result.nums.tolist() == [20, 10]
    assert evaluate("Sum(a) = 1 and not Sum(a) > 1", a=[1, 2]).nums.tolist() == [-1, 0]


def test_evaluate_text_concatenation() -> None:
    """& joins texts; a number uses its formatted text, NULL gives ''."""
    result = evaluate("'n=' & Sum(a) & Sum(b)", a=[1.5], b=[math.nan])
    assert result.text_at(0, None) == "n=1.5"


def test_evaluate_scalar_functions() -> None:
    """Round is half-up to a step; Num formats; Alt picks the first number."""
    assert evaluate("Round(2.5)").nums[0] == 3
    assert evaluate("Round(7, 5)").nums[0] == 5
    assert evaluate("Floor(-1.5)").nums[0] == -2
    assert evaluate("Fabs(-3) + Sqrt(16)").nums[0] == 7
    assert evaluate("Num(1234.5, '#,##0.00')").text_at(0, None) == "1,234.50"
    assert evaluate("Alt(Sum(a), 0)", a=[math.nan]).nums[0] == 0
    assert evaluate("Null()").is_null()[0]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2013.0, "2013"),
        (-3.0, "-3"),
        (0.6857977109029889, "0.68579771090299"),
        (51.152843901421875, "51.152843901422"),
        (0.1 + 0.2, "0.3"),
        (1e-5, "0.00001"),
        (12345678.9, "12345678.9"),
    ],
)
def test_auto_format_uses_fourteen_significant_digits(value: float, text: str) -> None:
    """Integers print plainly; reals with up to 14 significant digits."""
    assert format_auto(value) == text


def test_wire_num() -> None:
    """qNum is an int for integral values and "NaN" for no number."""
    assert wire_num(2013.0) == 2013
    assert isinstance(wire_num(2013.0), int)
    assert wire_num(0.5) == 0.5
    assert wire_num(math.nan) == "NaN"


@pytest.mark.parametrize(
    ("value", "num_format", "text"),
    [
        (1234567.891, {"qType": "F", "qFmt": "#,##0.00"}, "1,234,567.89"),
        (-0.001, {"qType": "F", "qFmt": "#,##0.00"}, "0.00"),
        (0.256, {"qType": "F", "qFmt": "0.0%"}, "25.6%"),
        (1234.5, {"qType": "M", "qFmt": "$#,##0.00"}, "$1,234.50"),
        (-1234.5, {"qType": "M", "qFmt": "$#,##0"}, "-$1,235"),
        (3.7, {"qType": "I", "qnDec": 0, "qUseThou": 0}, "4"),
        (2.5, {"qType": "F", "qnDec": 2}, "2.50"),
        (
            1234.5,
            {"qType": "F", "qFmt": "# ##0,0", "qDec": ",", "qThou": " "},
            "1 234,5",
        ),
        (41275.0, {"qType": "D", "qFmt": "YYYY-MM-DD"}, "2013-01-01"),
        (41275.5, {"qType": "TS", "qFmt": "YYYY-MM-DD hh:mm"}, "2013-01-01 12:00"),
        (0.5, {"qType": "U", "qnDec": 10}, "0.5"),
        (math.nan, {"qType": "F", "qFmt": "0.00"}, "-"),
    ],
)
def test_number_formats(value: float, num_format: dict[str, object], text: str) -> None:
    """qNumFormat patterns: grouping, decimals, percent, money, dates."""
    assert format_number(value, num_format) == text
