"""Timing points A-H and the SLA.

`states`: the one table of order states, timing points and who may report each point;
`deciding`: the pure decision on a reported point; `recording`: validate, decide, append;
`events`, `timelines`: an order's history and its computed timeline;
`sla`, `policies`: the SLA engine and the policies per region and order type.
"""
