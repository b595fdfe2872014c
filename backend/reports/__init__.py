"""Reports: SLA compliance, vehicle busy time, daily call-center figures; exports."""
