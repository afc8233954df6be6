"""``iot-gateway simulate``: a fleet of devices running the firmware's own code on CPython against a gateway.

``firmware`` finds and imports the firmware (``firmware/lib`` of the checkout) with the CPython shims in ``shims/``;
``register`` creates or reuses the devices through the API; ``fleet`` runs them and measures; ``progress`` shows how
it goes; ``command`` holds the options and the entry point.
"""
