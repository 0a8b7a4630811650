"""Where a payment goes: oldest installment first, late fees before fees, interest, principal."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Component(StrEnum):
    LATE_FEE = "late_fee"
    FEE = "fee"
    INTEREST = "interest"
    PRINCIPAL = "principal"


@dataclass(frozen=True, slots=True)
class OpenLine:
    """What is still owed on one installment, per component (each >= 0)."""

    ref: uuid.UUID
    sequence: int
    late_fee: int
    fee: int
    interest: int
    principal: int

    @property
    def owed(self) -> int:
        return self.late_fee + self.fee + self.interest + self.principal


@dataclass(frozen=True, slots=True)
class Portion:
    ref: uuid.UUID
    component: Component
    amount: int


@dataclass(frozen=True, slots=True)
class AllocationResult:
    """Portions in the order they were paid; `credit` is owed back to the customer."""

    portions: tuple[Portion, ...]
    credit: int

    @property
    def applied(self) -> int:
        return sum(portion.amount for portion in self.portions)


def allocate(lines: Sequence[OpenLine], amount: int) -> AllocationResult:
    """Spread `amount` over `lines`; whatever is left after the whole plan is the credit.

    The order of `lines` does not matter: they are paid by sequence, the deposit (0) first.
    """
    if amount <= 0:
        raise ValueError(f"a payment must be positive, got {amount}")
    _check(lines)
    portions: list[Portion] = []
    left = amount
    for line in sorted(lines, key=lambda line: line.sequence):
        for component, owed in _components(line):
            if not left:
                return AllocationResult(tuple(portions), 0)
            paid = min(owed, left)
            if paid:
                portions.append(Portion(line.ref, component, paid))
                left -= paid
    return AllocationResult(tuple(portions), left)


def _components(line: OpenLine) -> tuple[tuple[Component, int], ...]:
    return (
        (Component.LATE_FEE, line.late_fee),
        (Component.FEE, line.fee),
        (Component.INTEREST, line.interest),
        (Component.PRINCIPAL, line.principal),
    )


def _check(lines: Sequence[OpenLine]) -> None:
    # A negative balance would silently absorb money from the lines after it, and two lines
    # with one ref or one sequence mean the caller mixed plans or read a row twice.
    refs: set[uuid.UUID] = set()
    sequences: set[int] = set()
    for line in lines:
        if min(line.late_fee, line.fee, line.interest, line.principal) < 0:
            raise ValueError(f"installment {line.ref} owes a negative amount")
        if line.ref in refs or line.sequence in sequences:
            raise ValueError(f"installment {line.ref} (sequence {line.sequence}) given twice")
        refs.add(line.ref)
        sequences.add(line.sequence)


def allocate_held(
    lines: Sequence[OpenLine], held: Sequence[tuple[uuid.UUID, int]]
) -> list[tuple[uuid.UUID, tuple[Portion, ...]]]:
    """Money already held (a credit, per payment it came from: `held`, spent in this order)
    paying what is owed, by `allocate`'s order; what each source paid, sources that paid
    nothing left out. What is not needed stays held."""
    total = sum(amount for _, amount in held)
    if total <= 0:
        return []
    left_over = list(allocate(lines, total).portions)
    spent: list[tuple[uuid.UUID, tuple[Portion, ...]]] = []
    for source, amount in held:
        taken: list[Portion] = []
        while amount and left_over:
            portion = left_over[0]
            part = min(amount, portion.amount)
            taken.append(Portion(portion.ref, portion.component, part))
            amount -= part
            if part == portion.amount:
                left_over.pop(0)
            else:
                left_over[0] = Portion(portion.ref, portion.component, portion.amount - part)
        if taken:
            spent.append((source, tuple(taken)))
    return spent
