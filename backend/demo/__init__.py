"""Demo data and the embedded broker: what `make run` needs and a real install does not.

The demo API the tests use: the organisation (`seed_org`, `DemoOrg`, the published
secrets) and `seed_all`, which `fieldline seed-demo` runs. Each seeding step is idempotent.
"""

from backend.demo.org import CREWS, DEMO_DEVICE_SECRET, DEMO_PASSWORD, DemoOrg, seed_org
from backend.demo.seed import seed_all, seed_demo_archive, seed_demo_orders

__all__ = [
    "CREWS",
    "DEMO_DEVICE_SECRET",
    "DEMO_PASSWORD",
    "DemoOrg",
    "seed_all",
    "seed_demo_archive",
    "seed_demo_orders",
    "seed_org",
]
