// Package sink delivers alerts: it is the watch.Notifier behind which the
// sinks of sys/watch/sinks (webhook, Slack, syslog, SMTP) receive each
// alert change their min_severity reaches, with retries, dead letters and
// escalation of open critical alerts down a chain of sinks.
//
// Notify must never block and never does: it decides the deliveries of an
// alert change under a lock and puts them on a bounded queue, whose oldest
// entry becomes a dead letter when it is full. Workers send with retries
// and exponential backoff, and a delivery that runs out of tries is kept,
// persisted behind the barrier and bounded, at sys/watch/dead-letters.
// Delivery runs only between Attach (unseal on the active node) and Detach
// (seal, step-down); escalation timers do not outlive a seal.
//
// A sink's secrets (the webhook HMAC key, the SMTP password, a Slack
// webhook URL, which is a credential) must never leave the package other
// than as what they are for: no read, log line, error, dead letter or
// payload holds them. Errors from the network are stripped of URLs and
// scrubbed of every secret value before they are logged or shown. Alerts
// themselves hold no secret (package watch's contract); payloads hold only
// alert fields.
package sink
