"""The dialect seam computes the same distances on PostGIS and SpatiaLite."""

import pytest
from sqlalchemy import literal, select

from gis import queries
from gis.dialects import select_dialect

HANGZHOU = (120.1551, 30.2741)
ONE_KM_EAST = (120.16551, 30.2741)  # ~1 km at this latitude


def _dialect(session):
    return session.get_bind().dialect.name


def test_distance_in_metres(session):
    d = _dialect(session)
    a = queries.make_point(d, literal(HANGZHOU[0]), literal(HANGZHOU[1]))
    b = queries.make_point(d, literal(ONE_KM_EAST[0]), literal(ONE_KM_EAST[1]))
    metres = session.scalar(select(queries.distance_m(d, a, b)))
    assert metres == pytest.approx(1000, rel=0.01)


def test_within_distance(session):
    d = _dialect(session)
    a = queries.make_point(d, literal(HANGZHOU[0]), literal(HANGZHOU[1]))
    b = queries.make_point(d, literal(ONE_KM_EAST[0]), literal(ONE_KM_EAST[1]))
    assert session.scalar(select(queries.within_distance(d, a, b, 1100))) in (True, 1)
    assert session.scalar(select(queries.within_distance(d, a, b, 900))) in (False, 0)


def test_point_column_round_trip(session, demo):
    from geoalchemy2.shape import to_shape

    site = demo.departments["CALL"].site
    session.expire_all()
    from backend.org.models import Department

    loaded = session.get(Department, demo.departments["CALL"].id)
    assert to_shape(loaded.site).coords[0] == pytest.approx(HANGZHOU)
    assert site is not None


def test_unknown_dialect_is_refused():
    with pytest.raises(ValueError, match="no spatial dialect"):
        select_dialect("oracle")
