from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serialize once, straight from the model: FastAPI would validate a returned model again
    against the route's response_model, which stays declared for the OpenAPI document."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
