"""The read side of readings: latest values, ranges with aggregation windows, the fleet overview."""
