package telemetry

import (
	"context"
	"net"
	"net/http/httptest"
	"sync"
	"testing"

	colltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/jmanhype/runestone/internal/config"
)

// grpcCollector is an in-process OTLP/gRPC trace receiver.
type grpcCollector struct {
	colltrace.UnimplementedTraceServiceServer
	mu     sync.Mutex
	names  []string
	header []string
}

func (c *grpcCollector) Export(ctx context.Context, req *colltrace.ExportTraceServiceRequest) (*colltrace.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.header = append(c.header, md.Get("x-collector-token")...)
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				c.names = append(c.names, s.Name)
			}
		}
	}
	return &colltrace.ExportTraceServiceResponse{}, nil
}

// TestGRPCProtocol: protocol = "grpc" exports over OTLP/gRPC with the configured headers.
func TestGRPCProtocol(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	col := &grpcCollector{}
	colltrace.RegisterTraceServiceServer(srv, col)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	tel, err := New(context.Background(), Options{Config: config.Telemetry{
		TracesEndpoint: "http://" + ln.Addr().String(), Protocol: config.ProtocolGRPC, ServiceName: "runestone",
		Sampler: "always_on", SamplerArg: 1, Headers: map[string]string{"x-collector-token": "tok"}}})
	if err != nil {
		t.Fatal(err)
	}
	s := tel.StartRequest(httptest.NewRequest("POST", "/v1/embeddings", nil), OpEmbeddings)
	s.End(Record{RequestModel: "text-embedding-3-small", Status: 200})
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.names) != 1 || col.names[0] != "embeddings text-embedding-3-small" || len(col.header) == 0 || col.header[0] != "tok" {
		t.Fatalf("collector got spans %v, headers %v", col.names, col.header)
	}
}
