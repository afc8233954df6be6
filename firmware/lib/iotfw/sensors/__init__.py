# Sensors behind one interface: a `name`, and `await sensor.read(out)` that adds name -> number to the
# dict `out`. A read may await (a DS18B20 conversion takes 750 ms) but never blocks longer than one
# bus transaction. board.build_sensors() imports only the drivers the config names.
