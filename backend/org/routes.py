"""Departments, crews and vehicles."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.inputs import Blueprint, SelectPage
from backend.org import service
from backend.org.models import Crew, Department, Vehicle
from backend.org.schemas import (
    CrewCreateSchema,
    CrewReadSchema,
    CrewUpdateSchema,
    DepartmentCreateSchema,
    DepartmentReadSchema,
    DepartmentUpdateSchema,
    VehicleCreateSchema,
    VehicleReadSchema,
    VehicleUpdateSchema,
)
from backend.unit_of_work import request_session

blp = Blueprint("org", __name__, url_prefix="/api/v1", description="Departments, crews, vehicles")


@blp.route("/departments")
class Departments(MethodView):
    """The organisation tree, from your department down."""

    @requires(Action.DEPARTMENT_READ)
    @blp.response(200, DepartmentReadSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """List departments in your scope."""
        return service.list_departments(actor=current_actor())

    @requires(Action.DEPARTMENT_CREATE)
    @blp.arguments(DepartmentCreateSchema)
    @blp.response(201, DepartmentReadSchema)
    def post(self, data: dict[str, Any]) -> Department:
        """Create a department."""
        return service.create_department(
            session=request_session(), actor=current_actor(), data=data
        )


@blp.route("/departments/<int:department_id>")
class DepartmentById(MethodView):
    """One department."""

    @requires(Action.DEPARTMENT_READ)
    @blp.response(200, DepartmentReadSchema)
    def get(self, department_id: int) -> Department:
        """Show a department."""
        return service.get_department(
            session=request_session(), actor=current_actor(), department_id=department_id
        )

    @requires(Action.DEPARTMENT_UPDATE)
    @blp.arguments(DepartmentUpdateSchema)
    @blp.response(200, DepartmentReadSchema)
    def patch(self, data: dict[str, Any], department_id: int) -> Department:
        """Change a department's details."""
        return service.update_department(
            session=request_session(), actor=current_actor(), department_id=department_id, data=data
        )


@blp.route("/crews")
class Crews(MethodView):
    """Repair crews."""

    @requires(Action.CREW_READ)
    @blp.response(200, CrewReadSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """List crews in your scope."""
        return service.list_crews(actor=current_actor())

    @requires(Action.CREW_MANAGE)
    @blp.arguments(CrewCreateSchema)
    @blp.response(201, CrewReadSchema)
    def post(self, data: dict[str, Any]) -> Crew:
        """Create a crew with its members."""
        return service.create_crew(session=request_session(), actor=current_actor(), data=data)


@blp.route("/crews/<int:crew_id>")
class CrewById(MethodView):
    """One crew."""

    @requires(Action.CREW_READ)
    @blp.response(200, CrewReadSchema)
    def get(self, crew_id: int) -> Crew:
        """Show a crew."""
        return service.get_crew(session=request_session(), actor=current_actor(), crew_id=crew_id)

    @requires(Action.CREW_MANAGE)
    @blp.arguments(CrewUpdateSchema)
    @blp.response(200, CrewReadSchema)
    def patch(self, data: dict[str, Any], crew_id: int) -> Crew:
        """Change a crew."""
        return service.update_crew(
            session=request_session(), actor=current_actor(), crew_id=crew_id, data=data
        )


@blp.route("/vehicles")
class Vehicles(MethodView):
    """Repair vehicles."""

    @requires(Action.VEHICLE_READ)
    @blp.response(200, VehicleReadSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """List vehicles in your scope."""
        return service.list_vehicles(actor=current_actor())

    @requires(Action.VEHICLE_MANAGE)
    @blp.arguments(VehicleCreateSchema)
    @blp.response(201, VehicleReadSchema)
    def post(self, data: dict[str, Any]) -> Vehicle:
        """Register a vehicle."""
        return service.create_vehicle(session=request_session(), actor=current_actor(), data=data)


@blp.route("/vehicles/<int:vehicle_id>")
class VehicleById(MethodView):
    """One vehicle."""

    @requires(Action.VEHICLE_READ)
    @blp.response(200, VehicleReadSchema)
    def get(self, vehicle_id: int) -> Vehicle:
        """Show a vehicle."""
        return service.get_vehicle(
            session=request_session(), actor=current_actor(), vehicle_id=vehicle_id
        )

    @requires(Action.VEHICLE_MANAGE)
    @blp.arguments(VehicleUpdateSchema)
    @blp.response(200, VehicleReadSchema)
    def patch(self, data: dict[str, Any], vehicle_id: int) -> Vehicle:
        """Change a vehicle."""
        return service.update_vehicle(
            session=request_session(), actor=current_actor(), vehicle_id=vehicle_id, data=data
        )
