"""The lawful procedure of a theft or violation case (违约用电/窃电查处), step by step, as data.

Each step names who acts next, how long it may take, whether a supervisor approves it, and
the checklist of procedural items that must be recorded before it can complete. Courts
dismiss cases for a missing item as readily as for wrong facts (seed 002), so an item is
required unless marked otherwise; `choices` items take one of the listed answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CASE_KINDS = ("theft", "violation")
OUTCOMES = ("confirmed", "dismissed")
ENFORCEMENT_ACTIONS = ("cut_supply", "seal", "remove_meter")


@dataclass(frozen=True)
class Item:
    """One procedural item of a step's checklist."""

    key: str
    label: str
    choices: tuple[str, ...] = ()
    required: bool = True


@dataclass(frozen=True)
class Step:
    """One step of the case workflow."""

    name: str
    participant: str  # who acts next: inspector, customer, supervisor
    due_days: int
    items: tuple[Item, ...]
    approval: bool = False  # a supervisor (or admin) must complete or approve it
    fields: tuple[str, ...] = field(default=())  # extra body fields this step records

    def item(self, key: str) -> Item | None:
        """Return the checklist item `key`, if the step has it."""
        return next((i for i in self.items if i.key == key), None)


TWO = Item("two_inspectors_present", "Two inspectors present")
IDENTITY = Item("identity_shown", "Inspectors showed their identity documents to the customer")
SIGNATURE = Item(
    "customer_signature",
    "Customer signed the record, or the refusal was recorded with a witness",
    choices=("signed", "refused_witnessed"),
)

# fmt: off
STEPS: tuple[Step, ...] = (
    Step("discovery", "inspector", 1, (
        TWO, IDENTITY,
        Item("scene_recorded", "Scene recorded on photo or video before anything was touched"),
    )),
    Step("evidence", "inspector", 2, (
        TWO,
        Item("evidence_listed", "Evidence listed and sealed (seal numbers recorded)"),
        Item("meter_reading_recorded", "Meter readings recorded at the scene"),
        SIGNATURE,
    )),
    Step("notice", "customer", 3, (
        Item("notice_served", "Written notice of the findings served on the customer"),
        SIGNATURE,
        Item("rights_explained", "Customer told of the right to a statement and a hearing"),
    )),
    Step("hearing", "supervisor", 7, (
        Item("statement", "Customer's statement recorded, or the waiver recorded",
             choices=("recorded", "waived")),
    )),
    Step("decision", "supervisor", 5, (
        Item("legal_basis_cited", "Legal basis (clauses of the supply rules) cited"),
        Item("charges_calculated", "Back-billing and penalty calculated with the method shown"),
    ), approval=True, fields=("outcome", "back_billing_amount")),
    Step("enforcement", "inspector", 3, (
        TWO, IDENTITY,
        Item("prior_notice_served", "Notice of the enforcement served in advance"),
    ), fields=("actions",)),
    Step("recovery", "customer", 30, (
        Item("charges_invoiced", "Back-billing and penalty invoiced"),
        Item("payment", "Payment received, or the debt referred for collection",
             choices=("paid", "referred")),
    ), fields=("recovered_amount",)),
    Step("closure", "supervisor", 5, (
        Item("file_complete", "Case file complete: records, evidence, notices, decision"),
    ), approval=True),
)
# fmt: on

BY_NAME = {step.name: step for step in STEPS}
ORDER = tuple(step.name for step in STEPS)
CLOSED = "closed"
# A dismissed case skips enforcement and recovery.
SKIPPED_WHEN_DISMISSED = frozenset({"enforcement", "recovery"})


def next_step(current: str, *, dismissed: bool) -> str:
    """Return the step after `current` (`closed` after closure)."""
    index = ORDER.index(current) + 1
    while index < len(ORDER) and dismissed and ORDER[index] in SKIPPED_WHEN_DISMISSED:
        index += 1
    return ORDER[index] if index < len(ORDER) else CLOSED


def missing_items(step: Step, answers: dict[str, object]) -> list[dict[str, str]]:
    """Return the required items not (validly) answered: `{key, label}` each."""
    missing = []
    for item in step.items:
        value = answers.get(item.key)
        ok = value in item.choices if item.choices else value is True
        if item.required and not ok:
            missing.append({"key": item.key, "label": item.label})
    return missing
