from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import Tenant


@pytest.fixture
def client(tenant: Tenant) -> httpx.AsyncClient:
    return tenant.client


PAY_IN_4: dict[str, Any] = {
    "amount": 40000,
    "currency": "USD",
    "start_date": "2026-12-01",
    "deposit": {"percent": "25"},
    "installments": 3,
    "frequency": "biweekly",
}


async def test_quote_pay_in_4(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/quotes", json=PAY_IN_4)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("deposit_amount", "amount_financed", "finance_charge")} == {
        "deposit_amount": 10000,
        "amount_financed": 30000,
        "finance_charge": 0,
    }
    assert body["total_of_payments"] == 30000
    assert body["total_sale_price"] == 40000
    assert body["apr"] == "0.00"
    assert [(line["kind"], line["due_date"], line["amount"]) for line in body["schedule"]] == [
        ("deposit", "2026-12-01", 10000),
        ("installment", "2026-12-15", 10000),
        ("installment", "2026-12-29", 10000),
        ("installment", "2027-01-12", 10000),
    ]
    assert body["first_due_date"] == "2026-12-15"
    assert body["last_due_date"] == "2027-01-12"
    assert body["terms"]["first_due_date"] == "2026-12-15"
    assert body["terms"]["deposit"] == {"amount": None, "percent": "25"}


async def test_quote_amortized_rate_as_number(client: httpx.AsyncClient) -> None:
    terms = {
        "amount": 100000,
        "currency": "USD",
        "start_date": "2027-01-15",
        "installments": 12,
        "frequency": "monthly",
        "interest_rate": 15,
        "interest_method": "amortized",
    }
    body = (await client.post("/v1/quotes", json=terms)).json()
    assert body["apr"] == "15.00"
    assert body["schedule"][0]["amount"] == 9026
    assert sum(line["amount"] for line in body["schedule"]) == body["total_of_payments"]
    assert body["terms"]["interest_rate"] == "15"


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["type"].startswith("/problems/")
    return body


def _pointers(body: dict[str, Any]) -> set[str]:
    return {e.get("pointer") or e.get("parameter") for e in body.get("errors", [])}


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"amount": True}, "/amount"),
        ({"amount": 100.5}, "/amount"),
        ({"amount": 100.0}, "/amount"),
        ({"amount": "40000"}, "/amount"),
        ({"amount": 0}, "/amount"),
        ({"amount": -5}, "/amount"),
        ({"amount": 10**30}, "/amount"),
        ({"currency": "XYZ"}, "/currency"),
        ({"currency": "usd"}, "/currency"),
        ({"currency": "XAU"}, "/currency"),
        ({"start_date": "2026-02-30"}, "/start_date"),
        ({"start_date": 1767225600}, "/start_date"),
        ({"start_date": "tomorrow"}, "/start_date"),
        ({"installments": 0}, "/installments"),
        ({"installments": 121}, "/installments"),
        ({"installments": False}, "/installments"),
        ({"frequency": "daily"}, "/frequency"),
        ({"interest_rate": "NaN"}, "/interest_rate"),
        ({"interest_rate": "Infinity"}, "/interest_rate"),
        ({"interest_rate": "101"}, "/interest_rate"),
        ({"interest_rate": "-1"}, "/interest_rate"),
        ({"interest_rate": True}, "/interest_rate"),
        ({"deposit": {"percent": "25", "amount": 100}}, "/deposit"),
        ({"deposit": {"amount": 40000}}, "/deposit"),
        ({"first_due_date": "2026-11-01"}, "/first_due_date"),
        ({"installments": 120, "amount": 100, "deposit": None}, "/installments"),
        ({"surprise": 1}, "/surprise"),
    ],
)
async def test_bad_terms_are_422_pointing_at_the_field(
    client: httpx.AsyncClient, change: dict[str, Any], pointer: str
) -> None:
    body = _problem(await client.post("/v1/quotes", json={**PAY_IN_4, **change}), 422)
    assert any(p and p.startswith(pointer) for p in _pointers(body)), body


async def test_nan_literal_is_rejected(client: httpx.AsyncClient) -> None:
    raw = json.dumps(PAY_IN_4)[:-1] + ', "interest_rate": NaN}'
    response = await client.post(
        "/v1/quotes", content=raw, headers={"content-type": "application/json"}
    )
    assert "/interest_rate" in _pointers(_problem(response, 422))


@pytest.mark.parametrize(
    "raw", [b"{", b"", b"[]", b"null", b'"text"', b"{'single': 1}", b"\xff\xfe", b"[" * 50_000]
)
async def test_malformed_bodies_are_4xx_problems(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post(
        "/v1/quotes", content=raw, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    huge = {**PAY_IN_4, "padding": "x" * 2_000_000}
    _problem(await client.post("/v1/quotes", json=huge), 413)


async def test_apr_check_of_appendix_j_example(client: httpx.AsyncClient) -> None:
    # Appendix J (c)(1)(i): 5,000.00 advanced 1978-01-10, 24 monthly payments of 230.00 -> 9.69%.
    months = [(1978 + (m // 12), m % 12 + 1) for m in range(1, 25)]
    payments = [{"date": f"{y}-{m:02d}-10", "amount": 23000} for y, m in months]
    request = {
        "amount_financed": 500000,
        "currency": "USD",
        "start_date": "1978-01-10",
        "payments": payments,
    }
    response = await client.post("/v1/apr", json=request)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "apr": "9.69",
        "unit_period": "monthly",
        "amount_financed": 500000,
        "currency": "USD",
        "finance_charge": 52000,
        "total_of_payments": 552000,
    }


async def test_apr_refuses_payments_out_of_order(client: httpx.AsyncClient) -> None:
    request = {
        "amount_financed": 1000,
        "currency": "USD",
        "start_date": "2027-01-01",
        "payments": [{"date": "2027-03-01", "amount": 600}, {"date": "2027-02-01", "amount": 600}],
    }
    body = _problem(await client.post("/v1/apr", json=request), 422)
    assert any(p and p.startswith("/payments/1") for p in _pointers(body)), body


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
term_like = st.fixed_dictionaries(
    {},
    optional={
        key: json_values | st.just(value)
        for key, value in {**PAY_IN_4, "interest_rate": "9.9", "fee": {"amount": 100}}.items()
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=term_like)
async def test_no_input_produces_a_500(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    for path in ("/v1/quotes", "/v1/apr"):
        response = await client.post(
            path, content=json.dumps(body), headers={"content-type": "application/json"}
        )
        assert response.status_code < 500, (body, response.text)


@pytest.mark.parametrize("path", ["/v1/quotes", "/v1/apr"])
@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic dXNlcjpwYXNz", "Bearer "])
async def test_quotes_need_an_api_key(tenant: Tenant, path: str, header: str | None) -> None:
    headers = {"authorization": header} if header is not None else {}
    async with httpx.AsyncClient(
        transport=tenant.client._transport, base_url="http://testserver", headers=headers
    ) as anonymous:
        response = await anonymous.post(path, json=PAY_IN_4)
    body = _problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert "API key" in body["detail"]
