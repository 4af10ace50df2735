package failover

import (
	"slices"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/failover-dns/failover/events"
	"github.com/failover-dns/failover/notify"
)

// notifyProperties are the properties of a notify block.
var notifyProperties = []string{"events", "header", "timeout", "format", "queue"}

const (
	minNotifyTimeout = 100 * time.Millisecond
	maxNotifyQueue   = 1_000_000
)

// parseNotifyProperty reads 'notify URL [{ events TYPE...; header NAME VALUE;
// timeout DURATION; format json|slack; queue N }]'. Errors show the URL
// redacted (scheme://host/path) and never a header's value: both may hold
// secrets.
func parseNotifyProperty(c *caddy.Controller, f *Failover) error {
	const usage = "write 'notify URL' with an http:// or https:// URL, e.g. 'notify https://hooks.example.org/failover'"
	args := c.RemainingArgs()
	if len(args) != 1 {
		return c.Errf("notify takes one URL: %s", usage)
	}
	if err := notify.ValidURL(args[0]); err != nil {
		return c.Errf("notify URL '%s' is not usable, %v: %s", notify.Redact(args[0]), err, usage)
	}
	if slices.ContainsFunc(f.notify, func(n notify.Config) bool { return n.URL == args[0] }) {
		return c.Errf("notify %s is given twice in this failover block: keep one, with every event type it needs in its 'events' line", notify.Redact(args[0]))
	}
	cfg := notify.Config{URL: args[0]}
	line := c.Line()
	err := optionBlock(c, func() error {
		var err error
		switch c.Val() {
		case "events":
			cfg.Events, err = parseNotifyEvents(c)
		case "header":
			err = parseNotifyHeader(c, &cfg)
		case "timeout":
			cfg.Timeout, err = durationArg(c, minNotifyTimeout)
		case "format":
			cfg.Format, err = wordArg(c, notify.Formats, "write 'format json' (the event as JSON) or 'format slack' (a {\"text\": ...} summary)")
		case "queue":
			cfg.Queue, err = intArg(c, 1, maxNotifyQueue)
		default:
			err = c.Errf("unknown notify property '%s'%s: write 'events TYPE...', 'header NAME VALUE', 'timeout DURATION', 'format json|slack' or 'queue N'", c.Val(), didYouMean(c.Val(), notifyProperties))
		}
		return err
	})
	if err != nil {
		return err
	}
	warnPlainCredentials(c, line, cfg)
	f.notify = append(f.notify, cfg)
	return nil
}

// warnPlainCredentials warns, as for fleet credentials over http, when a
// webhook's credentials would cross the network unencrypted: an http URL
// to another host. It may be intended (a trusted network), so it does not
// stop the load.
func warnPlainCredentials(c *caddy.Controller, line int, cfg notify.Config) {
	if scheme(cfg.URL) != "http" || !remoteEndpoint(cfg.URL) {
		return
	}
	if where := notify.Credentials(cfg); len(where) > 0 {
		warnAt(c, line, "notify credentials (%s) go to %s unencrypted over http: write the URL as https://", strings.Join(where, ", "), notify.Redact(cfg.URL))
	}
}

func parseNotifyEvents(c *caddy.Controller) ([]string, error) {
	args := c.RemainingArgs()
	if len(args) == 0 {
		return nil, c.Errf("events takes one or more event types: write e.g. 'events target_down target_up', from %s", oneOf(events.Types))
	}
	for _, a := range args {
		if !slices.Contains(events.Types, a) {
			return nil, c.Errf("unknown event type '%s'%s: write event types from %s", a, didYouMean(a, events.Types), oneOf(events.Types))
		}
	}
	return args, nil
}

func parseNotifyHeader(c *caddy.Controller, cfg *notify.Config) error {
	args := c.RemainingArgs()
	if len(args) != 2 {
		return c.Err("header takes a name and a value: write e.g. 'header Authorization \"Bearer TOKEN\"' (quote a value with spaces)")
	}
	if err := notify.ValidHeader(args[0], args[1]); err != nil {
		return c.Errf("header '%s' is not usable, %v: write 'header NAME VALUE' with NAME an HTTP header name", args[0], err)
	}
	cfg.Headers = append(cfg.Headers, notify.Header{Name: args[0], Value: args[1]})
	return nil
}

// startNotifiers starts (or joins, when an identical one runs) the block's
// notifiers, subscribed to the process's event log from now on. Called with f.mu held.
func (f *Failover) startNotifiers() {
	for _, cfg := range f.notify {
		f.notifiers = append(f.notifiers, notify.Acquire(cfg, eventLog))
	}
}

// stopNotifiers releases the block's notifiers; the last user of one stops
// it. Called with f.mu held.
func (f *Failover) stopNotifiers() {
	for _, h := range f.notifiers {
		h.Release()
	}
	f.notifiers = nil
}
