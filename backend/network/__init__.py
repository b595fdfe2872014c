"""The electricity network (feeder lines, transformer areas) and its outages; water assets."""
