package topics_test

import (
	"fmt"

	"mqttgate/topics"
)

func ExampleMatch() {
	fmt.Println(topics.Match("+/sensors/#", "gw-1/sensors/env/state"))
	fmt.Println(topics.Match("#", "$SYS/broker/uptime"))
	fmt.Println(topics.Match("a+/b", "a+/b"))
	// Output:
	// true
	// false
	// false
}

func ExampleCheckFilter() {
	fmt.Println(topics.CheckFilter("a/#/b"))
	// Output: has '#' that is not the whole last level; write e.g. a/b/# [MQTT-4.7.1-2]
}

func ExampleSafeName() {
	fmt.Println(topics.SafeName("pi.lan", "mqttgate"))
	// Output: pi-lan
}
