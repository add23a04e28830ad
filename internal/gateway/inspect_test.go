package gateway

import (
	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/provider"
)

// inspect is what the request path does to a body (readBody's checkBody, then
// inspectChecked) in one call, for the tests and fuzz targets that feed it raw bodies.
func inspect(body []byte, ep provider.Endpoint) (reqInfo, *apierr.Error) {
	if e := checkBody(body); e != nil {
		return reqInfo{}, e
	}
	return inspectChecked(body, ep)
}
