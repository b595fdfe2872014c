"""Dispatch: repair work orders, timing points A-H, SLA engine, crews and vehicles."""
