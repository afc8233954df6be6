"""Where readings are kept: the sink/reader protocols and their InfluxDB and embedded implementations."""
