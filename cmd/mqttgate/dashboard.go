package main

import "net/http"

func dashboard() http.Handler { return http.NotFoundHandler() }
