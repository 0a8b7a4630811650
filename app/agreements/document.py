"""A plan's written agreement as one self-contained HTML document.

The customer signs the SHA-256 of the exact bytes, so the output depends on the input alone: no
clock, no locale, no external asset, and every user-supplied string is escaped.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html import escape

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_FREQUENCIES = {"weekly": "every week", "biweekly": "every two weeks", "monthly": "every month"}
_METHODS = {
    "amortized": "simple interest on the declining balance (amortized)",
    "flat": "add-on interest on the amount financed (flat)",
}
_REFUNDS = {
    "last_first": "reduces what you owe starting from the last installment and working backwards",
    "pro_rata": "reduces what you owe, spread evenly over your remaining installments",
}
# Defence in depth: even if an unescaped string slipped in, the document could run nothing.
_CSP = "default-src 'none'; style-src 'unsafe-inline'"
_STYLE = """\
body{font-family:Helvetica,Arial,sans-serif;color:#111;margin:0;padding:2rem;line-height:1.45}
main{max-width:56rem;margin:0 auto} h1{font-size:1.6rem}
h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid #999}
#parties{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem} dt{font-weight:bold}
dd{margin:0} table{border-collapse:collapse;width:100%} caption{text-align:left}
.tila td{border:2px solid #111;padding:.6rem;vertical-align:top;width:20%}
.tila h3{font-size:.95rem;margin:0 0 .3rem} .tila .conspicuous{font-weight:900}
.tila p{margin:0;font-size:.85rem} .tila .figure{font-size:1.3rem;font-weight:bold;margin-top:.6rem}
#schedule th,#schedule td{border-bottom:1px solid #ccc;padding:.3rem .5rem;text-align:left}
#schedule .num{text-align:right} #schedule tfoot *{border-top:2px solid #111;font-weight:bold}
"""


@dataclass(frozen=True, slots=True)
class AgreementLine:
    sequence: int
    kind: str  # "deposit" | "installment"
    due_date: date
    principal: int
    interest: int
    fee: int
    amount: int


@dataclass(frozen=True, slots=True)
class LateFeeTerms:
    grace_days: int
    first_fee_amount: int | None
    first_fee_percent: Decimal | None
    second_fee_after_days: int | None
    second_fee_amount: int | None
    second_fee_percent: Decimal | None
    cap_per_installment: int | None
    cap_per_plan_percent: Decimal | None
    cap_per_plan_amount: int | None
    cap_per_customer_12_months: int | None

    def __post_init__(self) -> None:
        # A contract that half-states a fee would be signed as written, so refuse it here.
        if (self.first_fee_amount is None) == (self.first_fee_percent is None):
            raise ValueError("the first late fee is exactly one of an amount or a percent")
        second_given = (self.second_fee_amount is None) != (self.second_fee_percent is None)
        if self.second_fee_after_days is None:
            if self.second_fee_amount is not None or self.second_fee_percent is not None:
                raise ValueError("a second late fee needs second_fee_after_days")
        elif not second_given:
            raise ValueError("the second late fee is exactly one of an amount or a percent")


@dataclass(frozen=True, slots=True)
class AgreementData:
    plan_id: str
    merchant_name: str
    customer_id: str
    order_id: str
    currency: str
    currency_exponent: int
    amount: int
    deposit_amount: int
    amount_financed: int
    finance_charge: int
    total_of_payments: int
    total_sale_price: int
    apr: Decimal
    interest_rate: Decimal
    interest_method: str
    frequency: str
    installments: int
    start_date: date
    first_due_date: date
    last_due_date: date
    lines: tuple[AgreementLine, ...]
    late_fees: LateFeeTerms | None
    default_after_days: int
    refund_strategy: str  # "last_first" | "pro_rata"
    require_signature: bool
    agreement_date: date  # the plan's creation date, never the time of rendering


def format_money(minor: int, currency: str, exponent: int) -> str:
    """Minor units as `CODE 1,234.56`, in integers only (USD 2 digits, JPY 0, BHD 3)."""
    return f"{currency} {_number(minor, exponent)}"


def render_agreement(data: AgreementData) -> str:
    """The whole agreement as an HTML5 document, a deterministic function of `data`."""
    refund = _REFUNDS.get(data.refund_strategy)
    if refund is None:
        raise ValueError(f"unknown refund strategy {data.refund_strategy!r}")
    if data.interest_rate:
        refund += (
            ". Because your plan bears interest, the remaining installments are then re-amortized"
            " on the reduced principal, so the interest falls with it"
        )
    merchant = escape(data.merchant_name)
    signature = (
        "You accept this agreement by electronic signature. Your acceptance records the signer's"
        " name, the time, your IP address and user agent, and the SHA-256 hash of this exact"
        " document."
        if data.require_signature
        else "No signature is required for this plan. Keep this document for your records."
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Installment agreement {escape(data.plan_id)}</title>
<style>
{_STYLE}</style>
</head>
<body>
<main>
<h1>Installment agreement</h1>
{_parties(data)}
{_terms(data)}
{_disclosure(data)}
{_schedule(data)}
{_late_fees(data)}
<section id="refunds">
<h2>Refunds</h2>
<p>A refund (for example for goods you return) {refund}. If a refund is more than you still owe,
the difference is paid back to you. A full refund cancels the plan.</p>
</section>
<section id="prepayment">
<h2>Paying early</h2>
<p>You may pay all or part of what you owe early, at any time, without penalty. To pay off the
plan you pay the principal left, the interest accrued to that day and any unpaid fees: interest not
yet earned is not charged.</p>
</section>
<section id="hardship">
<h2>Hardship and rescheduling</h2>
<p>If you have trouble making your payments, you may ask {merchant} to reschedule your plan.
{merchant} may spread what you owe over new terms and may waive late fees. Your original schedule
is kept on record.</p>
</section>
<section id="signature">
<h2>Signature</h2>
<p>{signature}</p>
</section>
</main>
</body>
</html>
"""


# A plan's document formats ~30 amounts and ~15 dates, mostly the same few values across plans
# (0, the common amounts, this fortnight's due dates): caching the pure formatters below makes
# rendering an agreement at plan creation about 40 % cheaper.
@functools.lru_cache(maxsize=4096)
def _number(minor: int, exponent: int) -> str:
    if exponent < 0:
        raise ValueError(f"a currency exponent cannot be negative: {exponent}")
    whole, fraction = divmod(abs(minor), 10**exponent)
    digits = f"{whole:,}.{fraction:0{exponent}d}" if exponent else f"{whole:,}"
    return f"-{digits}" if minor < 0 else digits


def _money(data: AgreementData, minor: int) -> str:
    return _money_html(minor, data.currency, data.currency_exponent)


@functools.lru_cache(maxsize=4096)
def _money_html(minor: int, currency: str, exponent: int) -> str:
    return escape(format_money(minor, currency, exponent))


def _percent(value: Decimal) -> str:
    # "f" writes the decimal exactly as given (no exponent, no rounding), whatever the context.
    return f"{value:f}%"


def _apr(value: Decimal) -> str:
    # Regulation Z shows the APR to two decimals; round half-up in integers, context-free.
    numerator, denominator = value.as_integer_ratio()
    whole, fraction = divmod((200 * numerator + denominator) // (2 * denominator), 100)
    return f"{whole}.{fraction:02d}%"


@functools.lru_cache(maxsize=1024)
def _date(value: date) -> str:
    # Month names from a fixed table: strftime("%B") would follow the process locale.
    text = f"{_MONTHS[value.month - 1]} {value.day}, {value.year}"
    return f'<time datetime="{value.isoformat()}">{text}</time>'


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _parties(data: AgreementData) -> str:
    rows = (
        ("Merchant (creditor)", escape(data.merchant_name)),
        ("Customer reference", escape(data.customer_id)),
        ("Order reference", escape(data.order_id)),
        ("Plan", escape(data.plan_id)),
        ("Agreement date", _date(data.agreement_date)),
        ("Start date", _date(data.start_date)),
        ("End date (last payment due)", _date(data.last_due_date)),
    )
    items = "\n".join(f"<dt>{term}</dt><dd>{value}</dd>" for term, value in rows)
    return f'<dl id="parties">\n{items}\n</dl>'


def _terms(data: AgreementData) -> str:
    deposit = "no deposit,"
    if data.deposit_amount:
        deposit = f"a deposit of {_money(data, data.deposit_amount)} due on the start date, then"
    frequency = escape(_FREQUENCIES.get(data.frequency, data.frequency))
    interest = "This plan charges no interest."
    if data.interest_rate:
        method = escape(_METHODS.get(data.interest_method, data.interest_method))
        interest = f"Interest: {_percent(data.interest_rate)} a year, {method}."
    return f"""<section id="terms">
<h2>Your plan</h2>
<p>You buy on credit for a purchase amount of {_money(data, data.amount)}: {deposit}
{_count(data.installments, "installment")} {frequency}, the first due on
{_date(data.first_due_date)} and the last on {_date(data.last_due_date)}. {interest}</p>
</section>"""


def _disclosure(data: AgreementData) -> str:
    # Regulation Z model form H-2 (credit sale), APR and FINANCE CHARGE the more conspicuous.
    deposit = _money(data, data.deposit_amount)
    boxes = (
        ("ANNUAL PERCENTAGE RATE", "The cost of your credit as a yearly rate.",
         "apr", _apr(data.apr)),
        ("FINANCE CHARGE", "The dollar amount the credit will cost you.",
         "finance-charge", _money(data, data.finance_charge)),
        ("Amount Financed", "The amount of credit provided to you.",
         "amount-financed", _money(data, data.amount_financed)),
        ("Total of Payments",
         "The amount you will have paid after you have made all payments as scheduled.",
         "total-of-payments", _money(data, data.total_of_payments)),
        ("Total Sale Price",
         f"The total cost of your purchase on credit, including your deposit of {deposit}.",
         "total-sale-price", _money(data, data.total_sale_price)),
    )  # fmt: skip
    cells = "\n".join(
        f'<td><h3 class="{"conspicuous" if heading.isupper() else "plain"}">{heading}</h3>'
        f'<p>{meaning}</p><p class="figure" id="{figure_id}">{figure}</p></td>'
        for heading, meaning, figure_id, figure in boxes
    )
    return f"""<section id="disclosure">
<h2>Federal Truth in Lending disclosures</h2>
<table class="tila"><tr>
{cells}
</tr></table>
<p>Your payment schedule is below; late payment, refunds and paying early follow it.</p>
</section>"""


def _schedule(data: AgreementData) -> str:
    def amounts(*values: int) -> str:
        return "".join(f'<td class="num">{_number(v, data.currency_exponent)}</td>' for v in values)

    figures = [(line.principal, line.interest, line.fee, line.amount) for line in data.lines]
    rows = "\n".join(
        f"<tr><td>{line.sequence}</td><td>{escape(line.kind.capitalize())}</td>"
        f"<td>{_date(line.due_date)}</td>{amounts(*figure)}</tr>"
        for line, figure in zip(data.lines, figures, strict=True)
    )
    totals = amounts(*(sum(figure[column] for figure in figures) for column in range(4)))
    headings = "".join(
        f'<th scope="col" class="num">{name}</th>' for name in ("Principal", "Interest", "Fee")
    )
    return f"""<section>
<h2>Payment schedule</h2>
<table id="schedule">
<caption>Amounts in {escape(data.currency)}</caption>
<thead><tr><th scope="col">No.</th><th scope="col">Kind</th><th scope="col">Due date</th>\
{headings}<th scope="col" class="num">Amount</th></tr></thead>
<tbody>
{rows}
</tbody>
<tfoot><tr><th scope="row" colspan="3">Total</th>{totals}</tr></tfoot>
</table>
</section>"""


def _fee(data: AgreementData, amount: int | None, percent: Decimal | None) -> str:
    if amount is not None:
        return _money(data, amount)
    if percent is None:
        raise ValueError("a late fee needs an amount or a percent")
    return f"{_percent(percent)} of the overdue installment"


def _late_fees(data: AgreementData) -> str:
    terms = data.late_fees
    parts = ["<p>This plan has no late fees.</p>"]
    if terms is not None:
        when = "by its due date"
        if terms.grace_days:
            when = f"within {_count(terms.grace_days, 'day')} after its due date (the grace period)"
        first = _fee(data, terms.first_fee_amount, terms.first_fee_percent)
        text = f"<p>If an installment is not paid in full {when}, a late fee of {first} is charged."
        if terms.second_fee_after_days is not None:
            second = _fee(data, terms.second_fee_amount, terms.second_fee_percent)
            after = _count(terms.second_fee_after_days, "day")
            text += f" If still unpaid {after} later, a second late fee of {second} is charged."
        parts = [text + "</p>"]
        caps = _caps(data, terms)
        if caps:
            parts.append("<p>Late fees are limited:</p>\n<ul>\n" + "\n".join(caps) + "\n</ul>")
        parts.append(
            "<p>Late fees are not finance charges: they are not part of the FINANCE CHARGE or"
            " the ANNUAL PERCENTAGE RATE above.</p>"
        )
    parts.append(
        f"<p>If a payment is {_count(data.default_after_days, 'day')} past due, your plan is in"
        " default and may be handed to collections.</p>"
    )
    return '<section id="late-fees">\n<h2>Late payment</h2>\n' + "\n".join(parts) + "\n</section>"


def _caps(data: AgreementData, terms: LateFeeTerms) -> list[str]:
    caps: list[str] = []
    if terms.cap_per_installment is not None:
        caps.append(f"to {_money(data, terms.cap_per_installment)} on any one installment")
    plan = []
    if terms.cap_per_plan_percent is not None:
        purchase = _money(data, data.amount)
        plan.append(f"{_percent(terms.cap_per_plan_percent)} of the purchase amount of {purchase}")
    if terms.cap_per_plan_amount is not None:
        plan.append(_money(data, terms.cap_per_plan_amount))
    if plan:
        caps.append(
            f"to {'the lower of ' if len(plan) > 1 else ''}{' and '.join(plan)} on this plan"
        )
    if terms.cap_per_customer_12_months is not None:
        total = _money(data, terms.cap_per_customer_12_months)
        merchant = escape(data.merchant_name)
        caps.append(f"to {total} in any 12 months across all your plans with {merchant}")
    return [f"<li>{cap}</li>" for cap in caps]
