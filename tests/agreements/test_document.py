from __future__ import annotations

import dataclasses
import hashlib
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from app.agreements.document import (
    AgreementData,
    AgreementLine,
    LateFeeTerms,
    format_money,
    render_agreement,
)

_VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr"}


@dataclasses.dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = dataclasses.field(default_factory=list)

    def text(self) -> str:
        parts = (c if isinstance(c, str) else c.text() for c in self.children)
        return " ".join(" ".join(parts).split())

    def find_all(self, tag: str) -> list[Node]:
        found: list[Node] = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag:
                    found.append(child)
                found.extend(child.find_all(tag))
        return found

    def by_id(self, element_id: str) -> Node:
        for child in self.children:
            if isinstance(child, Node):
                if child.attrs.get("id") == element_id:
                    return child
                try:
                    return child.by_id(element_id)
                except KeyError:
                    pass
        raise KeyError(element_id)


class _TreeBuilder(HTMLParser):
    """Builds a tree and checks every non-void element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.doctype: str | None = None

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(document: str) -> tuple[Node, _TreeBuilder]:
    builder = _TreeBuilder()
    builder.feed(document)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root, builder


def pay_in_4(**changes: object) -> AgreementData:
    dues = (date(2026, 1, 1), date(2026, 1, 15), date(2026, 1, 29), date(2026, 2, 12))
    lines = tuple(
        AgreementLine(n, "deposit" if n == 0 else "installment", due, 10000, 0, 0, 10000)
        for n, due in enumerate(dues)
    )
    data = AgreementData(
        plan_id="plan_123",
        merchant_name="Acme Outdoor",
        customer_id="cus_42",
        order_id="ord_9001",
        currency="USD",
        currency_exponent=2,
        amount=40000,
        deposit_amount=10000,
        amount_financed=30000,
        finance_charge=0,
        total_of_payments=30000,
        total_sale_price=40000,
        apr=Decimal("0.00"),
        interest_rate=Decimal("0"),
        interest_method="amortized",
        frequency="biweekly",
        installments=3,
        start_date=date(2026, 1, 1),
        first_due_date=date(2026, 1, 15),
        last_due_date=date(2026, 2, 12),
        lines=lines,
        late_fees=None,
        default_after_days=90,
        refund_strategy="last_first",
        require_signature=True,
        agreement_date=date(2025, 12, 31),
    )
    return dataclasses.replace(data, **changes)  # type: ignore[arg-type]


def late_fees(**changes: object) -> LateFeeTerms:
    terms = LateFeeTerms(
        grace_days=3,
        first_fee_amount=1000,
        first_fee_percent=None,
        second_fee_after_days=7,
        second_fee_amount=700,
        second_fee_percent=None,
        cap_per_installment=2000,
        cap_per_plan_percent=Decimal("25"),
        cap_per_plan_amount=6800,
        cap_per_customer_12_months=15000,
    )
    return dataclasses.replace(terms, **changes)  # type: ignore[arg-type]


def amortized() -> AgreementData:
    # 1,200.00 financed at 15 % over 3 months: P = 410.04, interest 15.00, 10.06, 5.06.
    lines = (
        AgreementLine(0, "deposit", date(2026, 3, 31), 30000, 0, 0, 30000),
        AgreementLine(1, "installment", date(2026, 4, 30), 39504, 1500, 0, 41004),
        AgreementLine(2, "installment", date(2026, 5, 31), 39998, 1006, 0, 41004),
        AgreementLine(3, "installment", date(2026, 6, 30), 40498, 506, 0, 41004),
    )
    return pay_in_4(
        amount=150000,
        deposit_amount=30000,
        amount_financed=120000,
        finance_charge=3012,
        total_of_payments=123012,
        total_sale_price=153012,
        apr=Decimal("15.00"),
        interest_rate=Decimal("15.00"),
        frequency="monthly",
        start_date=date(2026, 3, 31),
        first_due_date=date(2026, 4, 30),
        last_due_date=date(2026, 6, 30),
        lines=lines,
        late_fees=late_fees(),
        refund_strategy="pro_rata",
    )


def text_of(data: AgreementData) -> str:
    root, _ = parse(render_agreement(data))
    return root.by_id("late-fees").text()


@pytest.mark.parametrize(
    ("minor", "currency", "exponent", "expected"),
    [
        (40000, "USD", 2, "USD 400.00"),
        (5, "USD", 2, "USD 0.05"),
        (1234, "JPY", 0, "JPY 1,234"),
        (1500, "BHD", 3, "BHD 1.500"),
        (1234567, "BHD", 3, "BHD 1,234.567"),
        (123456789012, "USD", 2, "USD 1,234,567,890.12"),
        (1000000, "JPY", 0, "JPY 1,000,000"),
        (0, "USD", 2, "USD 0.00"),
        (0, "JPY", 0, "JPY 0"),
        (0, "BHD", 3, "BHD 0.000"),
    ],
)
def test_format_money(minor: int, currency: str, exponent: int, expected: str) -> None:
    assert format_money(minor, currency, exponent) == expected


def test_pay_in_4_disclosure_figures_are_in_their_elements() -> None:
    root, _ = parse(render_agreement(pay_in_4()))

    assert root.by_id("apr").text() == "0.00%"
    assert root.by_id("finance-charge").text() == "USD 0.00"
    assert root.by_id("amount-financed").text() == "USD 300.00"
    assert root.by_id("total-of-payments").text() == "USD 300.00"
    assert root.by_id("total-sale-price").text() == "USD 400.00"
    box = root.by_id("disclosure").text()
    for heading in ("ANNUAL PERCENTAGE RATE", "FINANCE CHARGE", "Amount Financed"):
        assert heading in box
    assert "Total of Payments" in box
    assert "including your deposit of USD 100.00" in box


def test_pay_in_4_schedule_table_has_every_line_and_totals() -> None:
    root, _ = parse(render_agreement(pay_in_4()))
    table = root.by_id("schedule")

    body_rows = table.find_all("tbody")[0].find_all("tr")
    cells = [[cell.text() for cell in row.find_all("td")] for row in body_rows]
    assert cells == [
        ["0", "Deposit", "January 1, 2026", "100.00", "0.00", "0.00", "100.00"],
        ["1", "Installment", "January 15, 2026", "100.00", "0.00", "0.00", "100.00"],
        ["2", "Installment", "January 29, 2026", "100.00", "0.00", "0.00", "100.00"],
        ["3", "Installment", "February 12, 2026", "100.00", "0.00", "0.00", "100.00"],
    ]
    due = [row.find_all("time")[0].attrs["datetime"] for row in body_rows]
    assert due == ["2026-01-01", "2026-01-15", "2026-01-29", "2026-02-12"]
    (totals,) = table.find_all("tfoot")[0].find_all("tr")
    assert totals.text() == "Total 400.00 0.00 0.00 400.00"


def test_pay_in_4_states_parties_and_dates_from_start_to_end() -> None:
    root, _ = parse(render_agreement(pay_in_4()))
    parties = root.by_id("parties").text()

    assert "Acme Outdoor" in parties
    assert "cus_42" in parties
    assert "ord_9001" in parties
    assert "plan_123" in parties
    assert "Agreement date December 31, 2025" in parties
    assert "Start date January 1, 2026" in parties
    assert "End date (last payment due) February 12, 2026" in parties
    terms = root.by_id("terms").text()
    assert "3 installments every two weeks" in terms
    assert "no interest" in terms


def test_amortized_plan_states_every_part_of_the_late_fee_policy() -> None:
    data = amortized()
    root, _ = parse(render_agreement(data))
    fees = root.by_id("late-fees").text()

    assert root.by_id("apr").text() == "15.00%"
    assert root.by_id("finance-charge").text() == "USD 30.12"
    assert "within 3 days after its due date (the grace period)" in fees
    assert "a late fee of USD 10.00" in fees
    assert "still unpaid 7 days later, a second late fee of USD 7.00" in fees
    assert "to USD 20.00 on any one installment" in fees
    assert "the lower of 25% of the purchase amount of USD 1,500.00 and USD 68.00" in fees
    assert "USD 150.00 in any 12 months across all your plans with Acme Outdoor" in fees
    assert "Late fees are not finance charges" in fees
    assert "90 days past due, your plan is in default and may be handed to collections" in fees
    assert "Interest: 15.00% a year" in root.by_id("terms").text()


def test_percent_fees_render_as_percent() -> None:
    terms = late_fees(
        first_fee_amount=None,
        first_fee_percent=Decimal("5"),
        second_fee_amount=None,
        second_fee_percent=Decimal("2.5"),
    )
    fees = text_of(dataclasses.replace(amortized(), late_fees=terms))

    assert "a late fee of 5% of the overdue installment" in fees
    assert "a second late fee of 2.5% of the overdue installment" in fees


def test_single_caps_and_no_second_fee() -> None:
    terms = late_fees(
        grace_days=0,
        second_fee_after_days=None,
        second_fee_amount=None,
        cap_per_installment=None,
        cap_per_plan_percent=None,
        cap_per_customer_12_months=None,
    )
    fees = text_of(dataclasses.replace(amortized(), late_fees=terms))

    assert "not paid in full by its due date, a late fee of USD 10.00" in fees
    assert "second" not in fees
    assert "to USD 68.00 on this plan" in fees
    assert "lower of" not in fees


def test_no_late_fees_still_states_default() -> None:
    fees = text_of(pay_in_4(default_after_days=60))

    assert "This plan has no late fees." in fees
    assert "not finance charges" not in fees
    assert "60 days past due, your plan is in default" in fees


@pytest.mark.parametrize(
    "changes",
    [
        {"first_fee_amount": None},
        {"first_fee_percent": Decimal("5")},
        {"second_fee_amount": None},
        {"second_fee_percent": Decimal("1")},
        {"second_fee_after_days": None},
    ],
)
def test_late_fee_terms_must_state_each_fee_once(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="late fee"):
        late_fees(**changes)


def test_refund_policies() -> None:
    last_first = parse(render_agreement(pay_in_4()))[0].by_id("refunds").text()
    pro_rata = parse(render_agreement(amortized()))[0].by_id("refunds").text()

    assert "starting from the last installment and working backwards" in last_first
    assert "re-amortized" not in last_first
    assert "spread evenly over your remaining installments" in pro_rata
    assert "re-amortized on the reduced principal" in pro_rata
    for text in (last_first, pro_rata):
        assert "the difference is paid back to you" in text
        assert "A full refund cancels the plan." in text
    with pytest.raises(ValueError, match="refund strategy"):
        render_agreement(pay_in_4(refund_strategy="whatever"))


def test_prepayment_hardship_and_signature() -> None:
    root, _ = parse(render_agreement(pay_in_4()))

    assert "interest not yet earned is not charged" in root.by_id("prepayment").text()
    hardship = root.by_id("hardship").text()
    assert "ask Acme Outdoor to reschedule" in hardship
    assert "may waive late fees" in hardship
    signature = root.by_id("signature").text()
    for recorded in ("electronic signature", "name", "time", "IP address", "user agent"):
        assert recorded in signature
    assert "SHA-256" in signature
    unsigned = parse(render_agreement(pay_in_4(require_signature=False)))[0]
    assert "No signature is required" in unsigned.by_id("signature").text()


def test_rendering_is_deterministic() -> None:
    first = render_agreement(amortized()).encode()
    second = render_agreement(amortized()).encode()

    assert first == second
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()


@pytest.mark.parametrize(
    "field",
    [
        "amount",
        "deposit_amount",
        "amount_financed",
        "finance_charge",
        "total_of_payments",
        "total_sale_price",
        "default_after_days",
    ],
)
def test_changing_any_amount_changes_the_document(field: str) -> None:
    data = amortized()
    changed = dataclasses.replace(data, **{field: getattr(data, field) + 1})

    assert render_agreement(changed) != render_agreement(data)


def test_changing_a_line_or_a_fee_term_changes_the_document() -> None:
    data = amortized()
    line = dataclasses.replace(data.lines[2], interest=1007, amount=41005)
    terms = late_fees(cap_per_installment=2001)
    lines = (*data.lines[:2], line, data.lines[3])
    base = render_agreement(data)

    assert render_agreement(dataclasses.replace(data, lines=lines)) != base
    assert render_agreement(dataclasses.replace(data, late_fees=terms)) != base
    assert render_agreement(dataclasses.replace(data, apr=Decimal("15.01"))) != base


def test_user_supplied_strings_are_escaped() -> None:
    hostile = '<script>alert("x")</script>'
    data = pay_in_4(merchant_name=hostile, customer_id=hostile, order_id=hostile, plan_id=hostile)
    document = render_agreement(data)
    root, _ = parse(document)

    assert "<script" not in document
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in document
    assert root.find_all("script") == []
    parties = root.by_id("parties").text()
    assert parties.count(hostile) == 4
    assert hostile in root.by_id("hardship").text()


def test_document_is_a_well_formed_html5_page() -> None:
    document = render_agreement(pay_in_4())
    root, builder = parse(document)

    assert document.startswith("<!DOCTYPE html>\n")
    assert builder.doctype == "DOCTYPE html"
    (html,) = root.find_all("html")
    assert html.attrs["lang"] == "en"
    metas = root.find_all("meta")
    assert {"charset": "utf-8"} in [m.attrs for m in metas]
    (title,) = root.find_all("title")
    assert title.text() == "Installment agreement plan_123"
    assert root.find_all("link") == []
    assert root.find_all("img") == []
    assert "http://" not in document
    assert "https://" not in document
    assert all(line == line.rstrip() for line in document.splitlines())


def test_currency_exponent_applies_to_figures_and_schedule() -> None:
    root, _ = parse(render_agreement(pay_in_4(currency="JPY", currency_exponent=0)))

    assert root.by_id("amount-financed").text() == "JPY 30,000"
    assert root.by_id("schedule").find_all("tfoot")[0].text() == "Total 40,000 0 0 40,000"
    assert "Amounts in JPY" in root.by_id("schedule").text()
