"""The dispatcher console: a map, the order queue, alerts and conflicts, served by Flask."""
