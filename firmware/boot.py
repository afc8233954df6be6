# Runs first on every reset. Keep it tiny: main.py does the work.
import gc

try:
    import esp

    esp.osdebug(None)  # no ESP-IDF debug chatter on the console
except ImportError:
    pass
gc.collect()
