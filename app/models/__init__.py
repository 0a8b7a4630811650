"""ORM models, one file per table; importing this package registers them all on Base.metadata."""

from app.models.base import Base

__all__ = ["Base"]
