"""Work orders, timing events, crews' availability, vehicle queues and SLA policies."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask.views import MethodView

from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.dispatch import (
    availability,
    candidates,
    closeout,
    queue,
    service,
)
from backend.dispatch.models import CrewStatus, FaultRecord, TimingEvent, WorkOrder
from backend.dispatch.schemas import (
    AvailabilitySchema,
    CandidateSchema,
    CrewStatusSchema,
    DispatchSchema,
    FaultRecordSchema,
    FollowUpSchema,
    IssueSchema,
    OrderFilterSchema,
    QueueSchema,
    ReassignSchema,
    RecallSchema,
    RepairCenterSchema,
    SlaPolicyReadSchema,
    SlaPolicySchema,
    TimelineSchema,
    TimingEventCreateSchema,
    TimingEventReadSchema,
    WorkOrderCreateSchema,
    WorkOrderReadSchema,
)
from backend.dispatch.timing import policies, timelines
from backend.dispatch.timing.recording import may_report, record_timing_event
from backend.inputs import Blueprint, SelectPage
from backend.unit_of_work import request_session

blp = Blueprint("dispatch", __name__, url_prefix="/api/v1", description="Repair work orders")


# Write routes on one order check its scope before validating the body.
ORDER = (WorkOrder, "order_id")


def _ctx() -> dict[str, Any]:
    return {"session": request_session(), "actor": current_actor()}


def _before_body(check: Callable[..., Any]) -> Callable[..., None]:
    """A service's check that needs no body, for `requires(before_body=...)`."""

    def run(**url: Any) -> None:
        check(**_ctx(), **url)

    return run


@blp.route("/work-orders")
class WorkOrders(MethodView):
    """Repair work orders."""

    @requires(Action.ORDER_READ)
    @blp.arguments(OrderFilterSchema, location="query")
    @blp.response(200, WorkOrderReadSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, filters: dict[str, Any]) -> Any:
        """List the orders you may see, newest first."""
        return service.list_orders(actor=current_actor(), filters=filters)

    @requires(Action.ORDER_CREATE)
    @blp.arguments(WorkOrderCreateSchema)
    @blp.response(201, WorkOrderReadSchema)
    @blp.alt_response(422, description="Problem (RFC 9457 problem+json)")
    def post(self, data: dict[str, Any]) -> WorkOrder:
        """Take a repair call (records A; with `repair_center_id` also issues it: B, C)."""
        return service.create_order(**_ctx(), data=data)


@blp.route("/work-orders/<uuid:order_id>")
class WorkOrderById(MethodView):
    """One work order."""

    @requires(Action.ORDER_READ)
    @blp.response(200, WorkOrderReadSchema)
    def get(self, order_id: uuid.UUID) -> WorkOrder:
        """Show a work order."""
        return service.get_order(**_ctx(), order_id=order_id)


@blp.route("/repair-centers", methods=["GET"])
@requires(Action.REPAIR_CENTER_LIST)
@blp.response(200, RepairCenterSchema(many=True))
@blp.paginate(SelectPage)
def list_repair_centers() -> Any:
    """List the repair centers an order may be issued to (across the whole tree)."""
    return service.repair_centers()


@blp.route("/work-orders/<uuid:order_id>/issue", methods=["POST"])
@requires(Action.ORDER_ISSUE, scope=ORDER)
@blp.arguments(IssueSchema)
@blp.response(200, WorkOrderReadSchema)
@blp.alt_response(409, description="Problem (RFC 9457 problem+json)")
def issue(data: dict[str, Any], order_id: uuid.UUID) -> WorkOrder:
    """Issue the order to a repair center (B, then C on arrival)."""
    return service.issue_order(**_ctx(), order_id=order_id, **data)


@blp.route("/work-orders/<uuid:order_id>/accept", methods=["POST"])
@requires(Action.ORDER_ACCEPT)
@blp.response(200, WorkOrderReadSchema)
@blp.alt_response(409, description="Problem (RFC 9457 problem+json)")
def accept_at_center(order_id: uuid.UUID) -> WorkOrder:
    """Accept the order at the repair center (stops its acceptance escalation)."""
    return service.accept_at_center(**_ctx(), order_id=order_id)


@blp.route("/work-orders/<uuid:order_id>/dispatch", methods=["POST"])
@requires(Action.ORDER_DISPATCH, scope=ORDER)
@blp.arguments(DispatchSchema)
@blp.response(200, WorkOrderReadSchema)
@blp.alt_response(409, description="Problem (RFC 9457 problem+json)")
def dispatch(data: dict[str, Any], order_id: uuid.UUID) -> WorkOrder:
    """Dispatch the order to a crew and its vehicle (D)."""
    return service.dispatch_order(**_ctx(), order_id=order_id, **data)


@blp.route("/work-orders/<uuid:order_id>/recall", methods=["POST"])
# From the crew or the center: the order's state decides which, before the reason is read.
@requires(Action.ORDER_RECALL, scope=ORDER, before_body=_before_body(service.may_recall))
@blp.arguments(RecallSchema)
@blp.response(200, WorkOrderReadSchema)
@blp.alt_response(409, description="Problem (RFC 9457 problem+json)")
def recall(data: dict[str, Any], order_id: uuid.UUID) -> WorkOrder:
    """Recall a misrouted order from its crew (repair center) or repair center (call center)."""
    return service.recall_order(**_ctx(), order_id=order_id, reason=data["reason"])


@blp.route("/work-orders/<uuid:order_id>/reassign", methods=["POST"])
@requires(Action.ORDER_DISPATCH, scope=ORDER)
@blp.arguments(ReassignSchema)
@blp.response(200, WorkOrderReadSchema)
@blp.alt_response(409, description="Problem (RFC 9457 problem+json)")
def reassign(data: dict[str, Any], order_id: uuid.UUID) -> WorkOrder:
    """Recall the order from its crew and dispatch it to another crew."""
    return service.reassign_order(**_ctx(), order_id=order_id, **data)


@blp.route("/work-orders/<uuid:order_id>/events")
class Events(MethodView):
    """The order's append-only history."""

    @requires(Action.ORDER_READ)
    @blp.response(200, TimingEventReadSchema(many=True))
    def get(self, order_id: uuid.UUID) -> list[TimingEvent]:
        """List every event of the order in the order it was recorded."""
        return service.history(**_ctx(), order_id=order_id)

    # A crew report or a supervisor's correction: the service checks scope first, then which
    # (a crew whose order was recalled gets 409 "recalled", so no route-level scope here).
    @requires(
        Action.CREW_POINT_REPORT, Action.CREW_POINT_CORRECT, scope=None,
        before_body=_before_body(may_report),
    )  # fmt: skip
    @blp.arguments(TimingEventCreateSchema)
    @blp.response(201, TimingEventReadSchema)
    @blp.alt_response(200, schema=TimingEventReadSchema, description="Replay of a known event")
    @blp.alt_response(409, description="Problem (RFC 9457 problem+json)")
    def post(self, data: dict[str, Any], order_id: uuid.UUID) -> Any:
        """Report a crew-side point: E received, F accepted, G departed, H arrived, finished."""
        event, created = record_timing_event(**_ctx(), order_id=order_id, **data)
        return event, 201 if created else 200


@blp.route("/work-orders/<uuid:order_id>/timeline", methods=["GET"])
@requires(Action.ORDER_READ)
@blp.response(200, TimelineSchema)
def timeline(order_id: uuid.UUID) -> dict[str, Any]:
    """Show every segment with its duration, limit, color and responsible department."""
    return timelines.timeline(**_ctx(), order_id=order_id)


@blp.route("/work-orders/<uuid:order_id>/candidates", methods=["GET"])
@requires(Action.ORDER_DISPATCH)
@blp.response(200, CandidateSchema(many=True))
def order_candidates(order_id: uuid.UUID) -> list[dict[str, Any]]:
    """Rank available crews of the right specialty and region, with distance and ETA.

    Free crews first, then nearest vehicle's ETA (whole minutes), load, same-site crew.
    """
    return candidates.candidates(**_ctx(), order_id=order_id)


@blp.route("/work-orders/<uuid:order_id>/fault-record")
class FaultRecordView(MethodView):
    """The crew's fault record."""

    @requires(Action.ORDER_READ)
    @blp.response(200, FaultRecordSchema)
    def get(self, order_id: uuid.UUID) -> FaultRecord:
        """Show the fault record."""
        return closeout.get_fault_record(**_ctx(), order_id=order_id)

    # The crew holding the order fills it in, the repair center corrects it.
    @requires(
        Action.FAULT_RECORD_WRITE, Action.FAULT_RECORD_CORRECT, scope=ORDER,
        before_body=_before_body(closeout.may_write_fault),
    )  # fmt: skip
    @blp.arguments(FaultRecordSchema)
    @blp.response(200, FaultRecordSchema)
    @blp.alt_response(409, description="Problem (RFC 9457 problem+json)")
    def put(self, data: dict[str, Any], order_id: uuid.UUID) -> FaultRecord:
        """Fill in (or correct) the fault record after finishing."""
        return closeout.record_fault(**_ctx(), order_id=order_id, data=data)


@blp.route("/work-orders/<uuid:order_id>/follow-up", methods=["POST"])
@requires(Action.ORDER_FOLLOW_UP, scope=ORDER)
@blp.arguments(FollowUpSchema)
@blp.response(200, WorkOrderReadSchema)
@blp.alt_response(409, description="Problem (RFC 9457 problem+json)")
def follow_up(data: dict[str, Any], order_id: uuid.UUID) -> WorkOrder:
    """Record the customer follow-up call."""
    return closeout.follow_up(**_ctx(), order_id=order_id, **data)


@blp.route("/work-orders/<uuid:order_id>/close", methods=["POST"])
@requires(Action.ORDER_CLOSE)
@blp.response(200, WorkOrderReadSchema)
@blp.alt_response(409, description="Problem (RFC 9457 problem+json)")
def close(order_id: uuid.UUID) -> WorkOrder:
    """Close a followed-up order."""
    return closeout.close_order(**_ctx(), order_id=order_id)


@blp.route("/vehicles/<int:vehicle_id>/queue")
class VehicleQueue(MethodView):
    """A vehicle's open orders, in working order."""

    @requires(Action.QUEUE_READ)
    @blp.response(200, WorkOrderReadSchema(many=True))
    def get(self, vehicle_id: int) -> list[WorkOrder]:
        """List the vehicle's open orders."""
        return queue.vehicle_queue(**_ctx(), vehicle_id=vehicle_id)

    @requires(Action.QUEUE_REORDER)
    @blp.arguments(QueueSchema)
    @blp.response(200, WorkOrderReadSchema(many=True))
    def put(self, data: dict[str, Any], vehicle_id: int) -> list[WorkOrder]:
        """Reorder the vehicle's open orders."""
        return queue.reorder_queue(**_ctx(), vehicle_id=vehicle_id, order_ids=data["order_ids"])


@blp.route("/crews/<int:crew_id>/availability")
class Availability(MethodView):
    """Whether a crew takes orders."""

    @requires(Action.AVAILABILITY_READ)
    @blp.response(200, CrewStatusSchema)
    def get(self, crew_id: int) -> Any:
        """Show the crew's availability (standby unless it stood down)."""
        return availability.get_availability(**_ctx(), crew_id=crew_id)

    @requires(Action.AVAILABILITY_SET, before_body=_before_body(availability.may_set_availability))
    @blp.arguments(AvailabilitySchema)
    @blp.response(200, CrewStatusSchema)
    @blp.alt_response(409, description="Problem (RFC 9457 problem+json)")
    def put(self, data: dict[str, Any], crew_id: int) -> CrewStatus:
        """Stand the crew down (meal ...) with a reason, or back on standby."""
        return availability.set_availability(**_ctx(), crew_id=crew_id, **data)


@blp.route("/sla-policies", methods=["GET"])
@requires(Action.SLA_POLICY_READ)
@blp.response(200, SlaPolicyReadSchema(many=True))
def list_policies() -> list[dict[str, Any]]:
    """List the SLA policies per region and order type (and the seed default)."""
    return policies.list_policies(session=request_session())


@blp.route("/sla-policies/<region_code>/<order_type>", methods=["PUT"])
@requires(Action.SLA_POLICY_WRITE)
@blp.arguments(SlaPolicySchema)
@blp.response(200, SlaPolicyReadSchema)
@blp.alt_response(422, description="Problem (RFC 9457 problem+json)")
def put_policy(data: dict[str, Any], region_code: str, order_type: str) -> dict[str, Any]:
    """Set the SLA limits of a region and order type (`*` matches any)."""
    return policies.put_policy(**_ctx(), region_code=region_code, order_type=order_type, data=data)
