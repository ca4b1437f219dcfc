// Package hw reads sensors and drives actuators through periph.io. It
// knows nothing of MQTT, topics or JSON: a Sensor returns a Reading (a time
// and named quantities with units), an Actuator takes a State.
//
// Devices are described by SensorConfig/ActuatorConfig (YAML) and opened by
// an Opener, which initialises periph's host drivers only when a hardware
// driver is configured. Each driver is also usable directly with periph
// bus and pin interfaces (NewBMX280, NewDS18B20, NewGPIOIn, NewGPIOOut),
// which is how the tests drive them with i2ctest, onewiretest and gpiotest.
//
// # Drivers
//
//	driver    quantities (JSON key)                        config
//	bme280    temperature_c humidity_pct pressure_hpa      bus, address (0x76|0x77)
//	bmp280    temperature_c pressure_hpa                   bus, address (0x76|0x77)
//	ds18b20   temperature_c                                bus, rom
//	gpio-in   state (0|1) edges_count; event driven        pin, pull, edge, debounce
//	soc-temp  temperature_c                                path (thermal zone dir)
//	system    cpu_load mem_available_bytes mem_used_pct    path (disk to report)
//	          disk_free_bytes disk_free_pct uptime_s
//	sim       temperature_c reads_count                    -
//	gpio-out  actuator: on/off                             pin, active_low, initial, on_shutdown
//	sim       actuator: on/off, remembered                 initial, on_shutdown
//
// # Datasheet notes
//
// BME280/BMP280 (Bosch BST-BME280-DS002, BST-BMP280-DS001): I²C address
// 0x76 (SDO to GND) or 0x77 (SDO to VDDIO); chip id register 0xD0 reads
// 0x60 (BME280), 0x58 (BMP280) or 0x55 (BMP180, not supported).
// Calibration words at 0x88..0xA1 and, for humidity, 0xE1..0xE7. Read in
// forced mode with 4x oversampling (periph bmxx80.DefaultOpts): write
// ctrl_meas 0xF4, poll status 0xF3 until idle, burst-read 0xF7.. (6 bytes,
// 8 on a BME280). A measurement takes ~30 ms; self-heating is negligible at
// one read per 10 s. A NACK (Linux: "remote I/O error") at any step fails
// the read with the sensor name, address and bus in the error.
//
// DS18B20 (Maxim 19-7487): 1-Wire, 64-bit ROM = family 0x28, 48-bit serial,
// CRC8. Linux shows it as 28-<serial hex>, e.g. 28-0000070e41ac; ParseROM
// accepts that form. Convert T (0x44) needs up to 750 ms at 12 bits with a
// strong pull-up (parasite power); read scratchpad (0xBE) is CRC-checked. A
// value of exactly 85 °C means no conversion happened (power/pull-up
// problem) and is reported as an error. On a Raspberry Pi enable
// dtoverlay=w1-gpio (GPIO4, 4.7 kΩ pull-up to 3.3 V).
//
// GPIO: pins by periph name (GPIO17). Inputs of a Pi float unless pull is
// set; mechanical contacts bounce for 1-10 ms, hence the 20 ms default
// debounce. Outputs are 3.3 V, a few mA: drive relays through a transistor
// or a relay board (usually active low: set active_low).
//
// soc-temp: <zone>/temp holds millidegrees Celsius (Raspberry Pi:
// /sys/class/thermal/thermal_zone0, throttling starts at 80-85 °C).
//
// system: /proc/loadavg, /proc/meminfo (MemTotal, MemAvailable),
// /proc/uptime and statfs(2) of the data directory (blocks available to
// unprivileged users).
//
// # Concurrency and shutdown
//
// All drivers are safe for concurrent use. Close releases a device and
// never changes an output; the sensors package sets an actuator's on_shutdown state
// before closing it. Opener.Close closes the shared buses.
package hw
