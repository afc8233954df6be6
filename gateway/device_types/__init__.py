"""Device types: the metric schema readings of a device are validated against."""
