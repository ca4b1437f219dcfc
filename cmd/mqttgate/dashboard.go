package main

import (
	"net/http"

	"mqttgate/web"
)

func dashboard() http.Handler { return web.Handler() }
