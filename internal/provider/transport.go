package provider

import (
	"net"
	"net/http"
	"time"
)

// NewTransport returns the tuned transport each upstream gets: a keep-alive pool big
// enough for hundreds of concurrent streams, and responseHeaderTimeout bounding the
// wait for an answer to start (not the length of a stream). Buffers stay at the 4 KiB
// defaults: with a thousand open streams, 32 KiB buffers cost ~60 MB of RSS.
func NewTransport(responseHeaderTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: responseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
}
