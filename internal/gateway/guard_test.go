package gateway

import (
	"net"
	"os"
	"strings"
	"testing"
)

func TestHostsAllowList(t *testing.T) {
	lo := newHosts("127.0.0.1:4001", []string{"Proxy.Internal", "*.corp.test"})
	for host, want := range map[string]bool{
		"localhost": true, "localhost:1": true, "127.0.0.1": true, "[::1]:4001": true, "127.0.0.2": true,
		"proxy.internal:443": true, "a.corp.test": true, "corp.test": false, "evil.example": false,
		"10.0.0.1": false, "": false, "localhost.evil.example": false,
		"localhost:4001.evil.example": false, "127.0.0.1:4001.evil.example": false, "[::1]:x": false,
		"localhost:65536": false, "localhost:-1": false, "localhost:+80": false, "localhost:000080": false,
		"localhost:65535": true, "localhost:": true, "a.corp.test:1.evil": false,
	} {
		if got := lo.allows(host); got != want {
			t.Errorf("loopback bind: %q -> %v, want %v", host, got, want)
		}
	}
	name, _ := os.Hostname()
	bound := newHosts("192.0.2.10:4001", nil)
	if !bound.allows("192.0.2.10:4001") || bound.allows("192.0.2.11") || (name != "" && !bound.allows(strings.ToUpper(name))) {
		t.Errorf("non-loopback bind: own address or hostname refused, or another address allowed")
	}
	all := newHosts("0.0.0.0:4001", nil)
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !all.allows(n.IP.String()) {
				t.Errorf("0.0.0.0 bind: interface address %s refused", n.IP)
			}
		}
	}
	if all.allows("evil.example") {
		t.Error("0.0.0.0 bind allows any name")
	}
}
