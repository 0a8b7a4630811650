"""What the statements read of the stored product document is named through checked paths."""

from __future__ import annotations

import pytest

from app.products.repository import definition_sql


def test_a_path_of_the_product_schema_reads_as_json() -> None:
    grace = definition_sql("v.definition", "late_fees", "grace_days")
    assert grace == "(v.definition -> 'late_fees' ->> 'grace_days')"
    fee = definition_sql("v.definition", "late_fees", "second_fee", text=False)
    assert fee == "(v.definition -> 'late_fees' -> 'second_fee')"
    assert definition_sql("d", "default_after_days") == "(d ->> 'default_after_days')"


@pytest.mark.parametrize(
    "path",
    [("grace_days",), ("late_fees", "grace"), ("default_after_days", "days"), ("late_fee",)],
)
def test_a_path_the_product_schema_lacks_is_refused(path: tuple[str, ...]) -> None:
    with pytest.raises(LookupError, match="no field"):
        definition_sql("v.definition", *path)
