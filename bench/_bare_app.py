"""The ceiling for POST /v1/quotes: a bare FastAPI app doing only the HTTP and pydantic work.

Its single endpoint takes the service's request body model (`QuoteRequest`: terms, or a product
and an amount) and returns a `Quote` computed once, at import, by the real service on the
benchmark's terms, so it parses and validates the same body and serializes the same response,
and does nothing else: no engine, no auth, no database session, no middleware, no error handlers.
Serve it with the same uvicorn settings as the service.

The terms come, as JSON, from BENCH_QUOTE_TERMS (the benchmark sets it to the body it sends);
without it, the 12-month amortized plan of bench/quotes.py.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from app.products.schemas import Terms
from app.quotes import service
from app.quotes.schemas import Quote, QuoteRequest

TERMS_ENV = "BENCH_QUOTE_TERMS"
DEFAULT_TERMS_JSON = (
    '{"amount": 100000, "currency": "USD", "start_date": "2027-01-15", "installments": 12,'
    ' "frequency": "monthly", "interest_rate": "15", "interest_method": "amortized"}'
)

QUOTE: Quote = service.quote(
    Terms.model_validate_json(os.environ.get(TERMS_ENV, DEFAULT_TERMS_JSON))
)

app = FastAPI()


@app.post("/v1/quotes", response_model=Quote)
async def create_quote(body: QuoteRequest) -> Quote:
    del body
    return QUOTE
