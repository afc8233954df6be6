# A stand-in for MicroPython's `network` module: the station interface is fakes.FakeWlan.
STA_IF = 0
AP_IF = 1
_wlan = None


def WLAN(interface=STA_IF):
    global _wlan
    if _wlan is None:
        from fakes import FakeWlan

        _wlan = FakeWlan()
    return _wlan
