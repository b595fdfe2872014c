"""Problems raised by inspections and cases."""

from __future__ import annotations

from backend.errors import Conflict


class ProcedureIncomplete(Conflict):
    """A step's lawful-procedure checklist lacks required items (`missing_items`)."""

    slug, title = "procedure-incomplete", "Procedure items missing"


class EvidenceMissing(Conflict):
    """Enforcement refused by the evidence gate (`missing`, `photos`)."""

    slug, title = "evidence-missing", "Evidence missing for enforcement"
