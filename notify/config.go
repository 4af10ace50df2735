// Package notify delivers events to webhooks: each Notifier POSTs the events
// of an events.Log it subscribes to, one request per event, to one URL. It
// knows nothing of what the events are about beyond their fields.
//
// Delivery is asynchronous: a Notifier's own goroutine moves events from its
// subscription into a bounded queue, and another sends them, with retries and
// exponential backoff. Nothing a webhook does (slow, down, failing) ever
// delays the Log's Append; a full queue drops its oldest event.
//
// Secrets (header values, the URL's userinfo and query) never appear in logs,
// errors or metric labels: those name the URL as scheme://host/path.
package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults; README.md documents them.
const (
	DefaultTimeout = 5 * time.Second
	DefaultQueue   = 1000
	DefaultBackoff = time.Second
	// Retries is how many times a failed delivery is tried again (after
	// Backoff, then twice and four times as long): four attempts in all.
	Retries = 3
	// maxBody caps how much of a response body is read (and discarded), so
	// that the connection can be reused.
	maxBody = 64 << 10
	// subscriptionBuffer is the buffer of the Log subscription, between the
	// Log and the goroutine that moves events into the queue.
	subscriptionBuffer = 256
)

// Formats of the request body.
const (
	// FormatJSON posts the events.Event as JSON.
	FormatJSON = "json"
	// FormatSlack posts {"text": "..."} with a one-line summary of the
	// event, which Slack-compatible chat webhooks accept.
	FormatSlack = "slack"
)

// Formats lists the valid formats.
var Formats = []string{FormatJSON, FormatSlack}

// Header is one extra request header.
type Header struct {
	Name, Value string
}

// Config is one webhook. The zero values of the optional fields mean their
// defaults.
type Config struct {
	// URL is where events are POSTed: http or https.
	URL string
	// Events are the event types sent; empty: every type.
	Events []string
	// Headers are added to every request (an Authorization token, say).
	// Their values are secrets: never logged.
	Headers []Header
	// Timeout limits one attempt, from connecting to reading the response
	// (0: DefaultTimeout).
	Timeout time.Duration
	// Format is FormatJSON (also when empty) or FormatSlack.
	Format string
	// Queue is how many events wait for delivery at most (0: DefaultQueue);
	// when it is full, the oldest is dropped.
	Queue int
	// Backoff is the wait before the first retry, doubled before each next
	// (0: DefaultBackoff). Not a Corefile option: tests shorten it.
	Backoff time.Duration
}

// withDefaults returns the configuration with its defaults filled in.
func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Format == "" {
		c.Format = FormatJSON
	}
	if c.Queue <= 0 {
		c.Queue = DefaultQueue
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	return c
}

// key identifies a configuration (with defaults): two with one key deliver
// the same. Every field is in it.
func (c Config) key() string {
	return fmt.Sprintf("%q %q %q %s %q %d %s", c.URL, c.Events, c.Headers, c.Timeout, c.Format, c.Queue, c.Backoff)
}

// Redact returns the URL as logs, errors and metrics show it: its scheme and
// host, and a digest of its path; never its userinfo, path, query or
// fragment, which may hold secrets.
// A URL that does not parse is shown as "(invalid URL)".
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(invalid URL)"
	}
	out := u.Scheme + "://" + u.Host
	// Chat webhooks carry their secret in the path (Slack's
	// /services/T.../B.../SECRET): show a digest that tells URLs apart.
	if p := u.EscapedPath(); p != "" && p != "/" {
		sum := sha256.Sum256([]byte(p))
		out += "/(path " + hex.EncodeToString(sum[:4]) + ")"
	}
	return out
}

// ValidURL checks that raw is an absolute http or https URL with a host. Its
// error never repeats the URL's secrets.
func ValidURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errInvalidURL
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errScheme
	}
	if u.Host == "" || u.Hostname() == "" {
		return errNoHost
	}
	return nil
}

type urlError string

func (e urlError) Error() string { return string(e) }

const (
	errInvalidURL = urlError("it is not a valid URL")
	errScheme     = urlError("its scheme is not http or https")
	errNoHost     = urlError("it names no host")
)

// ValidHeader checks a header's name (an HTTP token) and value (no line
// breaks or other control characters but tab).
func ValidHeader(name, value string) error {
	if name == "" || strings.IndexFunc(name, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
		return urlError("its name is not a valid HTTP header name")
	}
	if strings.IndexFunc(value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0 {
		return urlError("its value holds a control character")
	}
	if http.CanonicalHeaderKey(name) == "Content-Length" || http.CanonicalHeaderKey(name) == "Host" {
		return urlError("it is set by the request itself")
	}
	return nil
}

func isTokenChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

// credentialWords mark a header or query parameter name as carrying a
// credential (Authorization, X-Api-Key, X-Auth-Token, ?access_token=,
// ?sig=, a Cookie).
var credentialWords = []string{"auth", "token", "key", "secret", "pass", "sig", "cookie", "session", "credential"}

// Credentials lists where c's requests carry credentials (the URL's user
// and password, credential headers, credential query parameters), for a
// warning when they would cross the network in clear. It names them,
// never their values.
func Credentials(c Config) []string {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil
	}
	var where []string
	if u.User != nil {
		where = append(where, "the URL's user and password")
	}
	for _, h := range c.Headers {
		if credentialName(h.Name) {
			where = append(where, "header "+h.Name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(u.Query())) {
		switch {
		case !credentialName(name):
		case strings.IndexFunc(name, func(r rune) bool { return !isTokenChar(r) }) >= 0:
			where = append(where, "a query parameter")
		default:
			where = append(where, "the URL's query parameter "+name)
		}
	}
	return where
}

func credentialName(name string) bool {
	name = strings.ToLower(name)
	return slices.ContainsFunc(credentialWords, func(w string) bool { return strings.Contains(name, w) })
}
