package sensors

import (
	"encoding/json"

	"mqttgate/hw"
)

// Home Assistant MQTT discovery: one retained config message per sensor
// quantity (component sensor or binary_sensor) and per actuator (switch),
// under <prefix>/<component>/<gw>_<name>[_<key>]/config.

type haDevice struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
}

type haAvailability struct {
	Topic string `json:"topic"`
}

type haConfig struct {
	Name             string           `json:"name"`
	UniqueID         string           `json:"unique_id"`
	ObjectID         string           `json:"object_id"`
	StateTopic       string           `json:"state_topic"`
	CommandTopic     string           `json:"command_topic,omitempty"`
	ValueTemplate    string           `json:"value_template"`
	Unit             string           `json:"unit_of_measurement,omitempty"`
	DeviceClass      string           `json:"device_class,omitempty"`
	StateClass       string           `json:"state_class,omitempty"`
	PayloadOn        string           `json:"payload_on,omitempty"`
	PayloadOff       string           `json:"payload_off,omitempty"`
	StateOn          string           `json:"state_on,omitempty"`
	StateOff         string           `json:"state_off,omitempty"`
	Availability     []haAvailability `json:"availability"`
	AvailabilityMode string           `json:"availability_mode"`
	Device           haDevice         `json:"device"`
}

// haUnit maps a quantity to Home Assistant's unit and device class.
func haUnit(q hw.Quantity) (unit, class string) {
	switch q.Unit {
	case "c":
		return "°C", "temperature"
	case "pct":
		if q.Name == "humidity" {
			return "%", "humidity"
		}
		return "%", ""
	case "hpa":
		return "hPa", "atmospheric_pressure"
	case "bytes":
		return "B", "data_size"
	case "s":
		return "s", "duration"
	}
	return "", ""
}

func (s *Runner) haPrefix() (string, bool) {
	s.mu.Lock()
	ha := s.cfg.HomeAssistant
	s.mu.Unlock()
	return ha.Prefix, ha.Enabled
}

func (s *Runner) haBase(name string, avail ...string) haConfig {
	c := haConfig{
		Availability:     []haAvailability{{Topic: s.topic("status")}},
		AvailabilityMode: "all",
		Device:           haDevice{Identifiers: []string{"mqttgate_" + s.gw}, Name: s.gw, Manufacturer: "mqttgate", Model: "mqttgate gateway"},
	}
	for _, t := range avail {
		c.Availability = append(c.Availability, haAvailability{Topic: t})
	}
	return c
}

func (s *Runner) publishDiscovery(prefix, component, id string, c haConfig) {
	b, err := json.Marshal(c)
	if err != nil {
		s.log.Error("discovery config", "err", err)
		return
	}
	s.publish(prefix+"/"+component+"/"+id+"/config", b)
}

// discoverSensor announces each quantity of r once the sensor's first
// reading shows which quantities it has.
func (s *Runner) discoverSensor(c SensorConfig, r hw.Reading) {
	prefix, ok := s.haPrefix()
	if !ok {
		return
	}
	for _, q := range r.Values {
		id := s.gw + "_" + c.Name + "_" + q.Key()
		hc := s.haBase(c.Name+" "+q.Key(), s.topic("sensors", c.Name, "availability"))
		hc.Name, hc.UniqueID, hc.ObjectID = c.Name+" "+q.Key(), id, id
		hc.StateTopic = s.topic("sensors", c.Name, "state")
		hc.ValueTemplate = "{{ value_json." + q.Key() + " }}"
		component := "sensor"
		if c.Driver == hw.DriverGPIOIn && q.Key() == "state" {
			component = "binary_sensor"
			hc.PayloadOn, hc.PayloadOff = "1", "0"
		} else {
			hc.Unit, hc.DeviceClass = haUnit(q)
			hc.StateClass = "measurement"
			if q.Unit == "count" {
				hc.StateClass = "total_increasing"
			}
		}
		s.publishDiscovery(prefix, component, id, hc)
	}
}

func (s *Runner) discoverActuator(c ActuatorConfig) {
	prefix, ok := s.haPrefix()
	if !ok {
		return
	}
	id := s.gw + "_" + c.Name
	hc := s.haBase(c.Name)
	hc.Name, hc.UniqueID, hc.ObjectID = c.Name, id, id
	hc.StateTopic = s.topic("actuators", c.Name, "state")
	hc.CommandTopic = s.topic("actuators", c.Name, "set")
	hc.ValueTemplate = "{{ value_json.state }}"
	hc.PayloadOn, hc.PayloadOff, hc.StateOn, hc.StateOff = "on", "off", "on", "off"
	s.publishDiscovery(prefix, "switch", id, hc)
}
