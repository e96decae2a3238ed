package control

import "github.com/prometheus/client_golang/prometheus"

// mailAlerts is xvs_mail_alerts_total{result}: the mail alerts
// (notification_email, smtp_server) by what became of them: sent (the
// server accepted them), failed (the server could not be reached, refused
// them or timed out; they are not tried again) and dropped (never tried:
// the queue was full, or xvs was stopping). See alerts.go.
var mailAlerts = prometheus.NewDesc("xvs_mail_alerts_total",
	"Mail alerts by result: sent, failed (server unreachable, refused or timed out) or dropped (queue full or stopping).",
	[]string{"result"}, nil)

func describeMail(ch chan<- *prometheus.Desc) { ch <- mailAlerts }

// collectMail sends the mail alert counters of d through the collector's
// counter sender.
func collectMail(counter func(*prometheus.Desc, uint64, ...string), d *Director) {
	st := d.alerts.stats()
	counter(mailAlerts, st.Sent, "sent")
	counter(mailAlerts, st.Failed, "failed")
	counter(mailAlerts, st.Dropped, "dropped")
}
