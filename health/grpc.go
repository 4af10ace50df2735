package health

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// grpcProber asks the standard gRPC health service (grpc.health.v1) for a
// service's status and is healthy on SERVING. grpcs:// uses TLS with the
// same options and verification as https.
type grpcProber struct {
	authority string
	service   string
	creds     credentials.TransportCredentials
}

func newGRPCProber(u *url.URL, o *options, cfg CheckConfig) (*grpcProber, string, error) {
	p := &grpcProber{authority: u.Host, creds: insecure.NewCredentials()}
	var err error
	if p.service, _, err = o.str("service", "service my.package.Service"); err != nil {
		return nil, "", err
	}
	digest := ""
	if u.Scheme == "grpcs" {
		tlsCfg, d, err := tlsConfig(o, u.Hostname(), cfg.Root)
		if err != nil {
			return nil, "", err
		}
		p.creds, digest = grpcTLS{credentials.NewTLS(tlsCfg), tlsCfg.ServerName}, d
	}
	return p, digest, nil
}

// grpcTLS is credentials.NewTLS with the check's TLS server name (the URL's
// host, or server_name) for SNI and verification, apart from the
// :authority, which stays the URL's host:port like an https check's Host
// header. Without it no grpcs check could connect: grpc-go refuses a
// WithAuthority that differs from the credentials' server name, and it
// takes the TLS server name from the authority.
type grpcTLS struct {
	credentials.TransportCredentials
	serverName string // "" with 'insecure' and no name: the authority's host
}

func (c grpcTLS) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if c.serverName != "" {
		authority = c.serverName
	}
	return c.TransportCredentials.ClientHandshake(ctx, authority, conn)
}

// Info gives no server name: the authority is WithAuthority's. (Its other
// fields are deprecated and unused.)
func (c grpcTLS) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: c.TransportCredentials.Info().SecurityProtocol}
}

func (c grpcTLS) Clone() credentials.TransportCredentials {
	return grpcTLS{c.TransportCredentials.Clone(), c.serverName}
}

// Probe's RTT is the time from the probe's start to the health Check call's
// answer. It includes the connection's set-up (connect, TLS handshake,
// HTTP/2 preface), as a new client's first call waits for it: gRPC dials
// lazily, when that call is made, and tells no time of its own for it.
func (p *grpcProber) Probe(ctx context.Context, dst netip.AddrPort) Result {
	start := time.Now()
	conn, err := grpc.NewClient("passthrough:///"+dst.String(),
		grpc.WithTransportCredentials(p.creds), grpc.WithAuthority(p.authority))
	if err != nil {
		return failure(start, ReasonError, detailFor(err))
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: p.service}, grpc.WaitForReady(false))
	answered := time.Since(start)
	if err != nil {
		st := status.Convert(err)
		switch st.Code() {
		case codes.DeadlineExceeded:
			return failure(start, ReasonTimeout, "")
		case codes.NotFound:
			return failure(start, ReasonNotServing, fmt.Sprintf("the health server does not know service '%s' (NotFound)", p.service))
		case codes.Unavailable:
			return failure(start, grpcUnavailable(err), grpcDetail(st))
		}
		// Other codes come from the server's application, and so may its
		// message: the code alone says enough.
		return failure(start, ReasonProtocol, "health check answered "+st.Code().String())
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return failure(start, ReasonNotServing, fmt.Sprintf("health status %s, want SERVING", s))
	}
	return successRTT(start, answered)
}

// grpcDetail is the message of an Unavailable status, which the gRPC client
// makes itself for connection and transport failures, with its "connection error: desc ="
// wrapper taken off and quoted parts masked: gRPC quotes what the peer sent,
// such as an unexpected content-type.
func grpcDetail(st *status.Status) string {
	msg := st.Message()
	if q, ok := strings.CutPrefix(msg, "connection error: desc = "); ok {
		if unq, err := strconv.Unquote(q); err == nil {
			msg = unq
		}
	}
	return st.Code().String() + ": " + maskQuoted(msg)
}

// grpcUnavailable refines an Unavailable status into a connection reason
// where the message says what happened.
func grpcUnavailable(err error) string {
	msg := status.Convert(err).Message()
	for _, r := range []struct{ text, reason string }{
		{"connection refused", ReasonRefused},
		{"certificate", ReasonTLS},
		{"tls:", ReasonTLS},
		{"reset", ReasonReset},
	} {
		if strings.Contains(msg, r.text) {
			return r.reason
		}
	}
	return ReasonUnreachable
}

func (p *grpcProber) Close() {}
